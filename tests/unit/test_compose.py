"""The operators' stack (docker-compose.yml, .env.example, deploy/Dockerfile) checked against the
code it deploys. No Docker here: these tests parse the files and compare them with the settings,
console scripts, workspace members and topic catalogue they must agree with."""

from __future__ import annotations

import glob
import importlib
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from bpu_shared import admin
from bpu_shared.events import all_topics
from bpu_shared.settings import KafkaSettings, ServiceSettings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"
DOCKERFILE = ROOT / "deploy" / "Dockerfile"

#: Each service and the port it serves on.
SERVICES = {"registration": 8001, "billing": 8002, "claims": 8003, "reporting": 8004}

#: ``${VAR}``, ``${VAR:-default}``, ``${VAR:?error}``...; ``$${...}`` is an escaped literal.
VARIABLE = re.compile(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?+])([^}]*))?\}")
BARE_VARIABLE = re.compile(r"(?<!\$)\$(?![\${])[A-Za-z_]")
SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|API_KEY|_KEY$", re.IGNORECASE)


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


@pytest.fixture(scope="module")
def env_example() -> dict[str, str]:
    values = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, sep, value = line.partition("=")
            assert sep, f".env.example: {line!r} is not NAME=value"
            values[name.strip()] = value.strip()
    return values


def interpolate(value: str, env: dict[str, str]) -> str:
    """What compose makes of ``value`` with ``env`` as its .env file."""

    def substitute(match: re.Match[str]) -> str:
        name, operator, argument = match.groups()
        if operator in (":?", "?") and name not in env:
            raise AssertionError(f"compose would stop: {argument}")
        if operator in (":-", "-") and not env.get(name):
            return argument
        return env[name]

    return VARIABLE.sub(substitute, value).replace("$$", "$")


def settings_class(service: str) -> type[ServiceSettings]:
    """The service's own settings class (a ``ServiceSettings`` subclass in its ``app``, where
    the architecture puts the wiring, or in a ``settings`` module), else ``ServiceSettings``."""
    for module_name in (f"bpu_{service}.app", f"bpu_{service}.settings"):
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as error:
            if error.name in (module_name, f"bpu_{service}"):
                continue
            raise
        for value in vars(module).values():
            if (
                isinstance(value, type)
                and issubclass(value, ServiceSettings)
                and value is not ServiceSettings
                and value.__module__ == module_name
            ):
                return value
    return ServiceSettings


def required_env(cls: type[ServiceSettings]) -> set[str]:
    """Env vars compose must set: fields without a default, and the two infrastructure URLs,
    whose defaults (localhost) are wrong inside a container."""
    required = {name.upper() for name, field in cls.model_fields.items() if field.is_required()}
    return required | {"KAFKA_BOOTSTRAP_SERVERS", "MONGODB_URL"}


def console_scripts(pyproject: Path) -> dict[str, str]:
    return tomllib.loads(pyproject.read_text())["project"].get("scripts", {})


# --- the four services ------------------------------------------------------------------------


@pytest.mark.parametrize("name", SERVICES)
def test_service_is_built_from_the_dockerfile_and_supervised(compose, name):
    service = compose["services"][name]

    build = service["build"]
    assert (ROOT / build["context"] / build["dockerfile"]).resolve() == DOCKERFILE
    assert service["restart"] == "unless-stopped"
    assert service["command"] == [f"bpu-{name}"]
    assert f"bpu-{name}" in console_scripts(ROOT / "services" / name / "pyproject.toml")

    check = " ".join(service["healthcheck"]["test"])
    assert service["healthcheck"]["test"][0] in ("CMD", "CMD-SHELL")
    assert "python" in check and "/health" in check and "HTTP_PORT" in check
    assert "curl" not in check and "wget" not in check  # neither is in the image

    assert service["depends_on"]["kafka"] == {"condition": "service_healthy"}
    assert service["depends_on"]["mongo"] == {"condition": "service_healthy"}
    assert service["depends_on"]["kafka-init"] == {"condition": "service_completed_successfully"}


@pytest.mark.parametrize("name", SERVICES)
def test_service_sets_every_required_setting_and_only_known_ones(compose, name):
    cls = settings_class(name)
    environment = compose["services"][name]["environment"]

    missing = required_env(cls) - set(environment)
    assert not missing, f"{name} does not set {sorted(missing)}"
    unknown = {key for key in environment if key.lower() not in cls.model_fields}
    assert not unknown, f"{name} sets env vars no setting reads: {sorted(unknown)}"
    for key, value in environment.items():
        if SECRET_NAME.search(key):
            assert VARIABLE.search(str(value)), f"{name}: {key} must come from .env"


@pytest.mark.parametrize("name", SERVICES)
def test_service_environment_is_valid_settings(compose, env_example, monkeypatch, name):
    cls = settings_class(name)
    service = compose["services"][name]
    for field in cls.model_fields:
        monkeypatch.delenv(field.upper(), raising=False)
    for key, value in service["environment"].items():
        monkeypatch.setenv(key, interpolate(str(value), env_example))

    settings = cls()

    assert settings.http_host == "0.0.0.0"
    assert settings.http_port == SERVICES[name]
    assert settings.database_name == name  # the database mongo-init grants

    assert settings.kafka_bootstrap_servers == "kafka:9092"
    assert settings.kafka_enable_idempotence is True
    assert settings.kafka_security_protocol == "SASL_PLAINTEXT"
    assert settings.kafka_sasl_username == env_example["KAFKA_SASL_USERNAME"]
    assert settings.kafka_sasl_password is not None
    user, password = env_example["MONGO_APP_USERNAME"], env_example["MONGO_APP_PASSWORD"]
    assert settings.mongodb_url.startswith(f"mongodb://{user}:{password}@mongo:27017/")
    assert "authSource=admin" in settings.mongodb_url
    assert "replicaSet=rs0" in settings.mongodb_url


@pytest.mark.parametrize("name", SERVICES)
def test_http_port_is_the_published_port(compose, name):
    service = compose["services"][name]
    port = int(service["environment"]["HTTP_PORT"])
    published = [str(p).split(":") for p in service["ports"]]

    assert port == SERVICES[name]
    assert [str(port), str(port)] in published
    assert all(int(container) == port for *_, container in published)


def test_one_image_serves_every_service_and_job(compose):
    built = {name: s for name, s in compose["services"].items() if "build" in s}
    assert set(built) == {*SERVICES, "kafka-init"}
    assert len({s["image"] for s in built.values()}) == 1


# --- infrastructure ---------------------------------------------------------------------------


def test_kafka_init_creates_topics_with_bpu_admin(compose):
    job = compose["services"]["kafka-init"]

    assert job["command"][:2] == ["bpu-admin", "create-topics"]
    assert console_scripts(ROOT / "shared" / "pyproject.toml")["bpu-admin"] == (
        "bpu_shared.admin:main"
    )
    assert (ROOT / job["build"]["context"] / job["build"]["dockerfile"]).resolve() == DOCKERFILE
    assert job["depends_on"]["kafka"] == {"condition": "service_healthy"}
    assert job.get("restart", "no") == "no"
    env = job["environment"]
    assert env["KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092"
    assert env["KAFKA_SECURITY_PROTOCOL"] == "SASL_PLAINTEXT"
    assert {"KAFKA_SASL_MECHANISM", "KAFKA_SASL_USERNAME", "KAFKA_SASL_PASSWORD"} <= set(env)


def test_every_image_is_pinned_to_a_version(compose):
    for name, service in compose["services"].items():
        image = service.get("image")
        assert image, f"{name} names no image"
        repository, _, tag = image.rpartition(":")
        assert repository and "/" not in tag, f"{name}: {image} has no tag"
        assert tag != "latest", f"{name}: {image}"
        if "build" not in service:  # pulled: a release version, not a moving tag
            assert re.fullmatch(r"\d+\.\d+\.\d+", tag), f"{name}: {image} is not a release"


def test_kafka_runs_kraft_with_sasl_and_a_volume(compose):
    kafka = compose["services"]["kafka"]
    env = kafka["environment"]

    assert kafka["image"].startswith("apache/kafka:")
    assert "controller" in env["KAFKA_PROCESS_ROLES"] and "broker" in env["KAFKA_PROCESS_ROLES"]
    assert "KAFKA_ZOOKEEPER_CONNECT" not in env
    assert env["CLUSTER_ID"]
    assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"  # only kafka-init creates topics

    protocols = dict(
        item.split(":") for item in env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(",")
    )
    [advertised] = env["KAFKA_ADVERTISED_LISTENERS"].split(",")
    listener, address = advertised.split("://")
    assert protocols[listener] == "SASL_PLAINTEXT"
    assert address == compose["services"]["kafka-init"]["environment"]["KAFKA_BOOTSTRAP_SERVERS"]
    assert env["KAFKA_INTER_BROKER_LISTENER_NAME"] == listener
    assert "PLAIN" in env["KAFKA_SASL_ENABLED_MECHANISMS"].split(",")
    jaas = env[f"KAFKA_LISTENER_NAME_{listener}_PLAIN_SASL_JAAS_CONFIG"]
    assert jaas.startswith("org.apache.kafka.common.security.plain.PlainLoginModule required")
    assert 'user_${KAFKA_SASL_USERNAME}="${KAFKA_SASL_PASSWORD}"' in jaas
    assert jaas.endswith(";")

    volume = _named_volume(compose, kafka, env["KAFKA_LOG_DIRS"])
    assert volume

    check = kafka["healthcheck"]["test"]
    assert check[0] == "CMD-SHELL"
    assert "/opt/kafka/bin/kafka-broker-api-versions.sh" in check[1]
    assert "SASL_PLAINTEXT" in check[1] and "--command-config" in check[1]


def test_mongo_is_a_replica_set_with_auth_keyfile_and_a_volume(compose, env_example):
    mongo = compose["services"]["mongo"]
    command = mongo["command"]

    assert mongo["image"].startswith("mongo:")
    assert command[0] == "mongod"
    replica_set = command[command.index("--replSet") + 1]
    keyfile = command[command.index("--keyFile") + 1]
    env = mongo["environment"]
    assert {"MONGO_INITDB_ROOT_USERNAME", "MONGO_INITDB_ROOT_PASSWORD"} <= set(env)
    assert all(VARIABLE.search(env[k]) for k in env)

    # The keyfile is generated at start, not committed.
    entrypoint = "\n".join(mongo["entrypoint"])
    assert keyfile in entrypoint and "/dev/urandom" in entrypoint
    assert "chmod 400" in entrypoint and "exec docker-entrypoint.sh" in entrypoint
    assert _named_volume(compose, mongo, "/data/db")
    assert _named_volume(compose, mongo, str(Path(keyfile).parent))

    check = mongo["healthcheck"]["test"][1]
    assert "mongosh" in check and "--authenticationDatabase admin" in check
    assert f"_id: '{replica_set}'" in check and "host: 'mongo:27017'" in check
    assert "isWritablePrimary" in check

    url = interpolate(
        compose["services"]["registration"]["environment"]["MONGODB_URL"], env_example
    )
    assert f"replicaSet={replica_set}" in url


def test_mongo_init_gives_the_services_user_their_databases(compose):
    job = compose["services"]["mongo-init"]
    script = job["command"][-1]

    assert job["depends_on"]["mongo"] == {"condition": "service_healthy"}
    for name in SERVICES:  # each service's database is its name
        assert f"'{name}'" in script
    assert "readWrite" in script and "createUser" in script and "updateUser" in script
    for name in SERVICES:
        assert compose["services"][name]["depends_on"]["mongo-init"] == {
            "condition": "service_completed_successfully"
        }


def _named_volume(compose: dict[str, Any], service: dict[str, Any], target: str) -> str:
    for mount in service.get("volumes", []):
        source, _, rest = str(mount).partition(":")
        if rest.split(":")[0] == target:
            assert source in compose.get("volumes", {}), f"{source} is not a named volume"
            return source
    raise AssertionError(f"nothing is mounted at {target}")


# --- variables and secrets ------------------------------------------------------------------


def test_env_example_defines_every_variable_compose_uses(env_example):
    text = COMPOSE.read_text()
    used = {match.group(1) for match in VARIABLE.finditer(text)}

    assert used, "compose uses no variables?"
    assert not used - set(env_example), f".env.example lacks {sorted(used - set(env_example))}"
    assert not BARE_VARIABLE.search(text), "use ${VAR} (or $$ for the container's shell)"


def test_env_example_holds_placeholders_not_secrets(env_example):
    for name, value in env_example.items():
        if SECRET_NAME.search(name):
            assert "change-me" in value, f"{name} in .env.example should be a placeholder"
    assert len(env_example["ADMIN_API_KEY"]) >= 16


# --- topics -----------------------------------------------------------------------------------


def test_create_topics_plans_every_catalogue_topic():
    plan = admin.plan_topics(replication_factor=3)

    assert {t.name: t.num_partitions for t in plan} == all_topics()
    assert {t.replication_factor for t in plan} == {3}
    assert any(t.name.endswith(".dlq") for t in plan)
    prefixed = admin.plan_topics(prefix="staging.")
    assert [t.name for t in prefixed] == [f"staging.{name}" for name in all_topics()]
    with pytest.raises(admin.AdminError, match="at least 1"):
        admin.plan_topics(replication_factor=0)


def test_admin_reads_the_same_kafka_settings_as_the_services():
    # One class, so the CLI and the services cannot drift apart on the Kafka env vars.
    assert admin.KafkaSettings is KafkaSettings
    assert issubclass(ServiceSettings, KafkaSettings)


# --- the Dockerfile ---------------------------------------------------------------------------


def dockerfile_stages() -> tuple[dict[str, str], list[list[tuple[str, str]]]]:
    """Global ARG defaults, and each stage's instructions (continuations joined)."""
    instructions, current = [], ""
    for raw in DOCKERFILE.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        keyword, _, rest = (current + line).partition(" ")
        instructions.append((keyword.upper(), " ".join(rest.split())))
        current = ""
    global_args: dict[str, str] = {}
    stages: list[list[tuple[str, str]]] = []
    for keyword, rest in instructions:
        if keyword == "FROM":
            stages.append([])
        if not stages:
            if keyword == "ARG":
                name, _, default = rest.partition("=")
                global_args[name] = default
            continue
        stages[-1].append((keyword, rest))
    return global_args, stages


def resolve(text: str, args: dict[str, str]) -> str:
    return re.sub(r"\$\{?(\w+)\}?", lambda m: args.get(m.group(1), m.group(0)), text)


def stage_args(global_args: dict[str, str], stage: list[tuple[str, str]]) -> dict[str, str]:
    args = dict(global_args)
    for keyword, rest in stage:
        if keyword == "ARG" and "=" in rest:
            name, _, default = rest.partition("=")
            args[name] = default
    return args


def test_dockerfile_is_multi_stage_on_a_pinned_python_311_slim():
    global_args, stages = dockerfile_stages()

    assert len(stages) >= 2
    for stage in stages:
        image = resolve(stage[0][1].split()[0], global_args)
        assert re.fullmatch(r"python:3\.11\.\d+-slim(-\w+)?", image), image


def test_dockerfile_installs_the_four_services_with_a_pinned_uv_and_the_lock():
    global_args, stages = dockerfile_stages()
    build = stages[0]
    runs = [resolve(rest, stage_args(global_args, build)) for k, rest in build if k == "RUN"]

    assert any(re.search(r"pip install .*[\"']?uv==\d+\.\d+\.\d+", run) for run in runs) or any(
        re.search(r"ghcr\.io/astral-sh/uv:\d+\.\d+\.\d+", rest) for k, rest in build if k == "COPY"
    )
    syncs = [run for run in runs if "uv sync" in run]
    assert syncs
    for run in syncs:
        assert "--frozen" in run and "--no-dev" in run
        assert "--all-packages" not in run and "bpu-devstack" not in run
        for name in SERVICES:
            assert f"--package bpu-{name}" in run


def test_dockerfile_copies_what_uv_needs_and_nothing_secret():
    _, stages = dockerfile_stages()
    copied = [
        rest.split()[:-1]
        for stage in stages
        for keyword, rest in stage
        if keyword == "COPY" and not rest.startswith("--from")
    ]
    sources = {source for sources in copied for source in sources}

    for source in sources:
        assert (ROOT / source).exists(), f"COPY {source}: no such path"
        assert ".env" not in Path(source).name
    # uv resolves the workspace from every member's pyproject.toml.
    root = tomllib.loads((ROOT / "pyproject.toml").read_text())
    for pattern in root["tool"]["uv"]["workspace"]["members"]:
        for member in glob.glob(pattern, root_dir=ROOT):
            assert f"{member}/pyproject.toml" in sources, f"{member}/pyproject.toml not copied"
    assert {"pyproject.toml", "uv.lock"} <= sources
    # The services' and bpu-admin's code; never the embedded stack's.
    for name in SERVICES:
        assert f"services/{name}/src" in sources
    assert "shared/src" in sources
    assert not any(s.startswith("deploy/devstack/src") for s in sources)


def test_dockerfile_runs_as_non_root_exposes_the_ports_and_bakes_in_no_secret():
    global_args, stages = dockerfile_stages()
    final = stages[-1]

    users = [rest for keyword, rest in final if keyword == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    exposed = {int(p) for keyword, rest in final if keyword == "EXPOSE" for p in rest.split()}
    assert exposed == set(SERVICES.values())
    assert any(keyword == "CMD" for keyword, _ in final)
    for stage in stages:
        for keyword, rest in stage:
            if keyword in ("ENV", "ARG"):
                names = re.findall(r"(\w+)=", rest) or [rest.split()[0]]
                assert not any(SECRET_NAME.search(n) for n in names), f"{keyword} {rest}"
    assert not any(SECRET_NAME.search(name) for name in global_args)
