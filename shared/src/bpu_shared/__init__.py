"""What every service shares: event contracts, the messaging kit, store helpers, settings, auth,
logging and the HTTP app skeleton."""
