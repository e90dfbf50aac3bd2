// The dashboard page: asks for a dashboard key (kept in sessionStorage), then reads the
// reporting API with it (GET /coverage, /contributions, /benefits per region and by month,
// /monitoring, /freshness) and draws the figures. Plain JavaScript, no build step; every
// request goes to this page's own origin. A figure the service does not answer shows "—".
"use strict";

(() => {
  const KEY = "bpu.dashboard.key";
  const NONE = "—";
  const POLL_MS = 30000;
  const MONTHS = ["Jan", "Feb", "Mar", "Apr", "Mei", "Jun", "Jul", "Agu", "Sep", "Okt", "Nov", "Des"];
  const $ = (id) => document.getElementById(id);
  const q = (sel, root = document) => root.querySelector(sel);
  const charts = {};
  let run = 0; // the newest refresh; an older one's answers are dropped

  class KeyRefused extends Error {}

  // ---- Indonesian figures: 7.130, Rp119.784.000, 70,5% ----------------------------------

  function group(n) {
    if (typeof n !== "number" || !Number.isFinite(n)) return NONE;
    const digits = Math.abs(Math.round(n)).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ".");
    return (n < 0 ? "-" : "") + digits;
  }

  function percent(x) {
    if (typeof x !== "number" || !Number.isFinite(x)) return NONE;
    return (Math.round(x * 10) / 10).toFixed(1).replace(".", ",") + "%";
  }

  /** Rupiah as the API writes it ({rupiah, formatted}); a bare integer grouped the same way. */
  function money(m) {
    if (m && typeof m === "object" && typeof m.formatted === "string") return m.formatted;
    if (typeof m === "number") return (m < 0 ? "-Rp" : "Rp") + group(Math.abs(m));
    return NONE;
  }

  function rupiah(m) {
    if (m && typeof m === "object" && typeof m.rupiah === "number") return m.rupiah;
    return typeof m === "number" ? m : null;
  }

  /** 1,2 M (miliar), 119,8 jt (juta), 500 rb (ribu): a chart axis's Rupiah. */
  function shortRupiah(n) {
    const steps = [[1e12, " T"], [1e9, " M"], [1e6, " jt"], [1e3, " rb"]];
    for (const [size, unit] of steps) {
      if (Math.abs(n) >= size) {
        return "Rp" + (Math.round((n / size) * 10) / 10).toString().replace(".", ",") + unit;
      }
    }
    return "Rp" + group(n);
  }

  const count = (v) => (typeof v === "number" ? v : null);
  const first = (...values) => values.find((v) => v !== null && v !== undefined) ?? null;

  function monthName(ym) {
    const m = /^(\d{4})-(\d{2})$/.exec(ym || "");
    return m ? `${MONTHS[Number(m[2]) - 1]} ${m[1]}` : ym || NONE;
  }

  /** An instant in Jakarta (UTC+7, no summer time): 24 Nov 2026, 08.33 WIB. */
  function jakarta(iso) {
    const t = Date.parse(iso);
    if (Number.isNaN(t)) return null;
    const d = new Date(t + 7 * 3600 * 1000);
    const two = (n) => String(n).padStart(2, "0");
    return `${d.getUTCDate()} ${MONTHS[d.getUTCMonth()]} ${d.getUTCFullYear()}, ` +
      `${two(d.getUTCHours())}.${two(d.getUTCMinutes())} WIB`;
  }

  function shiftMonth(ym, by) {
    const [y, m] = ym.split("-").map(Number);
    const i = y * 12 + (m - 1) + by;
    return `${Math.floor(i / 12)}-${String((i % 12) + 1).padStart(2, "0")}`;
  }

  function thisMonth() {
    const d = new Date(Date.now() + 7 * 3600 * 1000);
    return `${d.getUTCFullYear()}-${String(d.getUTCMonth() + 1).padStart(2, "0")}`;
  }

  // ---- the API ------------------------------------------------------------------------------

  function key() {
    return sessionStorage.getItem(KEY) || "";
  }

  /** path?params on this page's origin, the empty parameters left out. */
  function address(path, params) {
    const url = new URL(path, window.location.origin);
    for (const [k, v] of Object.entries(params)) {
      if (v !== undefined && v !== null && v !== "") url.searchParams.set(k, v);
    }
    return url;
  }

  // Each answer kept under its ETag: asked again (Show, the 30 s poll) with If-None-Match, the
  // service answers 304 with no body while nothing changed, and the kept answer is used.
  const tagged = new Map();

  /** GET path?params with the key; null when the service has no such route (older service). */
  async function api(path, params = {}) {
    const url = address(path, params);
    const headers = { Authorization: `Bearer ${key()}`, Accept: "application/json" };
    const known = tagged.get(url.href);
    if (known) headers["If-None-Match"] = known.etag;
    const answer = await fetch(url, { headers, cache: "no-store" });
    if (answer.status === 304 && known) return known.body;
    if (answer.status === 401) throw new KeyRefused("This key is not known to the service.");
    if (answer.status === 404 || answer.status === 405) return null;
    if (!answer.ok) {
      const problem = await answer.json().catch(() => null);
      const detail = problem && (problem.detail || problem.title);
      throw new Error(`${path}: ${detail || answer.status}`);
    }
    const body = await answer.json();
    const etag = answer.headers.get("etag");
    if (etag) tagged.set(url.href, { etag, body });
    return body;
  }

  /** An answer saved as a file (CSV, the print page): fetched with the key, handed to the
   *  browser as a download under the name the service gives it. */
  async function download(path, params, fallbackName) {
    const url = address(path, params);
    try {
      const answer = await fetch(url, { headers: { Authorization: `Bearer ${key()}` } });
      if (answer.status === 401) return askForKey("This key is not known to the service.");
      if (!answer.ok) throw new Error(`${path}: ${answer.status}`);
      const disposition = answer.headers.get("content-disposition") || "";
      const named = /filename="?([^";]+)"?/.exec(disposition);
      const link = document.createElement("a");
      link.href = URL.createObjectURL(await answer.blob());
      link.download = named ? named[1] : fallbackName;
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(link.href), 10000);
    } catch (error) {
      status("error", `Could not download: ${error.message}`);
    }
  }

  /** A read the page can do without (monitoring, freshness): its failure is a note, not a stop. */
  async function optional(path, params) {
    try {
      return { body: await api(path, params) };
    } catch (error) {
      if (error instanceof KeyRefused) throw error;
      return { body: null, error: error.message };
    }
  }

  // ---- what was asked ----------------------------------------------------------------------

  function asked() {
    const mode = q('input[name="mode"]:checked').value;
    const region = $("regency").value || $("province").value;
    if (mode === "range") {
      let from = $("from").value || thisMonth();
      let to = $("to").value || from;
      if (from > to) [from, to] = [to, from];
      return { mode, region, from, to, chartFrom: from, chartTo: to, params: { from, to } };
    }
    const month = $("month").value || thisMonth();
    return {
      mode, region, month, chartFrom: shiftMonth(month, -11), chartTo: month,
      params: { period: month },
    };
  }

  /** Whether an answer is about the period asked (an older service ignores from/to). */
  function about(body, want) {
    if (!body) return false;
    if (want.mode === "month") return body.period === want.month;
    return body.from === want.from && body.to === want.to;
  }

  function byMonth(body) {
    return body && body.breakdown_level === "month" ? body.breakdown : null;
  }

  // ---- the region pickers ------------------------------------------------------------------

  function option(value, text) {
    const o = document.createElement("option");
    o.value = value;
    o.textContent = text;
    return o;
  }

  async function loadProvinces(wanted) {
    const top = await api("/coverage");
    const select = $("province");
    select.replaceChildren();
    scoped = top.level !== "country";
    if (!scoped) {
      select.append(option("", "Indonesia (all provinces)"));
      for (const row of top.breakdown) select.append(option(row.region, `${row.region} ${row.name}`));
    } else {
      // A key scoped to one region sees that region alone.
      select.append(option(top.region, `${top.region} ${top.region_name}`));
    }
    const province = (wanted || "").slice(0, 2);
    if ([...select.options].some((o) => o.value === province)) select.value = province;
    await loadRegencies(wanted);
  }

  async function loadRegencies(wanted) {
    const select = $("regency");
    const province = $("province").value;
    select.replaceChildren(option("", province ? "All regencies" : "—"));
    select.disabled = !province;
    if (!province) return;
    const answer = await api("/coverage", { region: province });
    if (answer && answer.level === "province") {
      for (const row of answer.breakdown) select.append(option(row.region, `${row.region} ${row.name}`));
    } else {
      // A key scoped to a regency: the regency is the region, there is nothing to pick.
      select.replaceChildren(option("", "—"));
      select.disabled = true;
    }
    if (wanted && wanted.length > 2 && [...select.options].some((o) => o.value === wanted)) {
      select.value = wanted;
    }
  }

  // ---- drawing -----------------------------------------------------------------------------

  function cell(tag, text, cls) {
    const c = document.createElement(tag);
    c.textContent = text;
    if (cls) c.className = cls;
    return c;
  }

  function setText(testid, text) {
    q(`[data-testid="${testid}"]`).textContent = text;
  }

  function drawTotals(want, cov, contrib, benefits) {
    const covNow = about(cov, want) ? cov : null;
    const conNow = about(contrib, want) ? contrib : null;
    const benNow = about(benefits, want) ? benefits : null;
    setText("scope-name", cov ? `${cov.region_name || "Indonesia"}${cov.region ? ` (${cov.region})` : ""}` : NONE);
    setText("scope-period", want.mode === "month" ? monthName(want.month)
      : `${monthName(want.from)} – ${monthName(want.to)}`);
    setText("total-covered", group(count(covNow?.covered)));
    setText("total-enrolled", group(count(covNow?.enrolled)));
    setText("total-in-arrears", group(count(covNow?.in_arrears)));
    setText("total-waiting", group(count(covNow?.waiting)));
    setText("total-invoiced", money(conNow?.invoiced));
    setText("total-paid", money(conNow?.paid));
    setText("total-outstanding", money(conNow?.outstanding));
    setText("total-benefits-paid", money(benNow?.benefits_paid));
    setText("totals-note", want.mode === "range" && covNow?.month
      ? `Covered, enrolled, in arrears and waiting are those of ${monthName(covNow.month)}, the range's last month; ` +
        "money is the whole range's."
      : "");
    const target = covNow?.target;
    setText("target-figures", target ? targetWords(target) : "No target set for this region and year.");
    setText("target-sentence", target?.sentence || "");
  }

  function targetWords(t) {
    const share = typeof t.target_percent === "number" && typeof t.workforce === "number"
      ? ` (${percent(t.target_percent)} of a workforce of ${group(t.workforce)})` : "";
    const ofWorkforce = typeof t.covered_pct_of_workforce === "number"
      ? `, ${percent(t.covered_pct_of_workforce)} of the workforce` : "";
    return `Target ${t.year}: ${group(t.target_workers)} workers${share}; ` +
      `covered ${percent(t.covered_pct_of_target)} of the target${ofWorkforce}.`;
  }

  /** Rows per area: coverage's and contributions' rows joined by region code. */
  function areaRows(want, cov, contrib) {
    const covRows = about(cov, want) ? cov.breakdown : [];
    const conRows = about(contrib, want) ? contrib.breakdown : [];
    const names = cov?.breakdown?.length ? cov.breakdown : conRows;
    const byCode = (rows) => new Map((rows || []).map((r) => [r.region, r]));
    const c = byCode(covRows);
    const p = byCode(conRows);
    return names.map((r) => {
      const cr = c.get(r.region) || {};
      const pr = p.get(r.region) || {};
      const target = cr.target || null;
      return {
        code: r.region,
        name: r.name,
        covered: count(cr.covered),
        target: target ? target.target_workers : null,
        pctOfTarget: target ? target.covered_pct_of_target : null,
        workforce: target ? target.workforce : null,
        enrolled: count(cr.enrolled),
        inArrears: count(cr.in_arrears),
        waiting: count(cr.waiting),
        paid: pr.paid,
      };
    });
  }

  function drawAreas(want, cov, contrib) {
    const level = first(cov?.breakdown_level, contrib?.breakdown_level, "area");
    setText("breakdown-level", level);
    q(".level-name").textContent = level;
    const rows = areaRows(want, cov, contrib);
    const scale = Math.max(1, ...rows.map((r) => Math.max(r.covered || 0, r.target || 0)));

    const bars = q('[data-testid="bars"]');
    bars.replaceChildren(...rows.map((r) => {
      const li = document.createElement("li");
      li.className = "bar";
      li.dataset.testid = "district-bar";
      li.dataset.region = r.code;
      const label = cell("span", `${r.name}`, "bar-name");
      label.title = `${r.code} ${r.name}`;
      const track = document.createElement("span");
      track.className = "bar-track";
      track.setAttribute("aria-hidden", "true");
      const fill = document.createElement("span");
      fill.className = "bar-fill" + (r.target && r.covered >= r.target ? " met" : "");
      fill.style.width = `${(100 * (r.covered || 0)) / scale}%`;
      track.append(fill);
      if (r.target) {
        const mark = document.createElement("span");
        mark.className = "bar-target";
        mark.style.left = `calc(${(100 * r.target) / scale}% - 1px)`;
        track.append(mark);
      }
      const value = cell("span", r.target
        ? `${group(r.covered)} / ${group(r.target)} (${percent(r.pctOfTarget)})`
        : `${group(r.covered)} · no target`, "bar-value");
      value.dataset.testid = "bar-value";
      li.append(label, track, value);
      return li;
    }));

    const body = q('[data-testid="breakdown-rows"]');
    body.replaceChildren(...rows.map((r) => {
      const tr = document.createElement("tr");
      tr.dataset.testid = "district-row";
      tr.dataset.region = r.code;
      const th = cell("th", `${r.code} ${r.name}`);
      th.scope = "row";
      tr.append(
        th,
        cell("td", group(r.covered), "num"),
        cell("td", group(r.target), "num"),
        cell("td", percent(r.pctOfTarget), "num"),
        cell("td", group(r.workforce), "num"),
        cell("td", group(r.enrolled), "num"),
        cell("td", group(r.inArrears), "num"),
        cell("td", group(r.waiting), "num"),
        cell("td", money(r.paid), "num"),
      );
      tr.children[1].dataset.testid = "row-covered";
      tr.children[2].dataset.testid = "row-target";
      tr.children[8].dataset.testid = "row-paid";
      return tr;
    }));
  }

  function monthsOf(want) {
    const out = [];
    for (let m = want.chartFrom; m <= want.chartTo; m = shiftMonth(m, 1)) out.push(m);
    return out;
  }

  function lineChart(id, labels, datasets, money) {
    if (charts[id]) charts[id].destroy();
    const figure = $(id).closest("figure");
    const have = datasets.some((d) => d.data.some((v) => v !== null));
    q(".canvas-box", figure).hidden = !have;
    q(".missing", figure).hidden = have;
    if (!have || typeof window.Chart !== "function") return;
    charts[id] = new window.Chart($(id), {
      type: "line",
      data: { labels: labels.map(monthName), datasets },
      options: {
        animation: false,
        responsive: true,
        maintainAspectRatio: false,
        spanGaps: true,
        interaction: { mode: "index", intersect: false },
        plugins: {
          legend: { position: "bottom" },
          tooltip: {
            callbacks: {
              label: (ctx) => `${ctx.dataset.label}: ${money ? money(ctx.parsed.y) : group(ctx.parsed.y)}`,
            },
          },
        },
        scales: {
          x: { ticks: { maxRotation: 0, autoSkip: true, autoSkipPadding: 8 } },
          y: {
            beginAtZero: true,
            ticks: { callback: (v) => (money ? shortRupiah(v) : group(v)) },
          },
        },
      },
    });
  }

  function series(label, color, values, dashed) {
    return {
      label, data: values, borderColor: color, backgroundColor: color,
      borderWidth: 2, pointRadius: 3, tension: 0.2, borderDash: dashed ? [6, 4] : [],
    };
  }

  function drawMonths(want, covM, conM, benM, target) {
    const labels = monthsOf(want);
    setText("chart-range", `${monthName(want.chartFrom)} – ${monthName(want.chartTo)}`);
    const index = (rows) => new Map((rows || []).map((r) => [r.month, r]));
    const cov = index(byMonth(covM));
    const con = index(byMonth(conM));
    const ben = index(byMonth(benM));
    const pick = (map, f) => labels.map((m) => (map.has(m) ? f(map.get(m)) : null));
    const coverage = pick(cov, (r) => count(r.covered));
    const enrolled = pick(cov, (r) => count(r.enrolled));
    const arrears = pick(cov, (r) => count(r.in_arrears));
    const covSets = [
      series("Covered (paid)", "#0b7a53", coverage),
      series("Enrolled", "#1f5fa8", enrolled),
      series("In arrears", "#a35a00", arrears),
    ];
    if (target && coverage.some((v) => v !== null)) {
      covSets.push(series("Target", "#1d2a33", labels.map(() => target.target_workers), true));
    }
    lineChart("chart-coverage", labels, covSets);
    const invoiced = pick(con, (r) => rupiah(r.invoiced));
    const paid = pick(con, (r) => rupiah(r.paid));
    lineChart("chart-contributions", labels, [
      series("Invoiced", "#1f5fa8", invoiced),
      series("Paid", "#0b7a53", paid),
    ], money);
    const benefits = pick(ben, (r) => rupiah(r.benefits_paid));
    lineChart("chart-benefits", labels, [series("Benefits paid", "#7a3b9c", benefits)], money);

    const rows = q('[data-testid="months-rows"]');
    rows.replaceChildren(...labels.map((m, i) => {
      const tr = document.createElement("tr");
      tr.dataset.testid = "month-row";
      tr.dataset.month = m;
      const th = cell("th", monthName(m));
      th.scope = "row";
      tr.append(
        th,
        cell("td", group(coverage[i]), "num"),
        cell("td", group(enrolled[i]), "num"),
        cell("td", group(arrears[i]), "num"),
        cell("td", money(invoiced[i]), "num"),
        cell("td", money(paid[i]), "num"),
        cell("td", money(benefits[i]), "num"),
      );
      return tr;
    }));
  }

  function yesNo(v) {
    if (v === true) return ["yes", "yes"];
    if (v === false) return ["no", "no"];
    return [NONE, ""];
  }

  /** One regency of the monitoring answer (or its totals), the fields read leniently. */
  function monitoringCells(row, tag) {
    const [budgetedText, budgetedClass] = yesNo(row.budgeted);
    const head = cell("th", tag === "total" ? "All regencies" : `${row.region} ${row.name}`);
    head.scope = "row";
    return [
      head,
      cell("td", tag === "total" ? "" : budgetedText, budgetedClass),
      cell("td", money(row.budget_rupiah), "num"),
      cell("td", group(count(row.covered)), "num"),
      cell("td", group(count(row.target_workers)), "num"),
      cell("td", percent(row.covered_pct_of_target), "num"),
      cell("td", money(row.contributions_invoiced_rupiah), "num"),
      cell("td", money(row.contributions_paid_rupiah), "num"),
      cell("td", money(row.benefits_paid_rupiah), "num"),
      cell("td", group(count(row.waiting)), "num"),
    ];
  }

  function drawMonitoring(asked, answer) {
    const data = answer.body;
    setText("monitoring-province", data?.province ? `${data.province_name} (${data.province})` : NONE);
    const body = q('[data-testid="monitoring-rows"]');
    const foot = q('[data-testid="monitoring-totals"]');
    body.replaceChildren();
    foot.replaceChildren();
    if (!asked) {
      setText("monitoring-note", "Pick a province to see its regencies side by side.");
      return;
    }
    const rows = data && data.rows;
    if (!Array.isArray(rows)) {
      setText("monitoring-note", answer.error
        ? `Monitoring could not be read: ${answer.error}`
        : "The service does not answer monitoring yet.");
      return;
    }
    setText("monitoring-note", [data.year ? `Budget year ${data.year}` : "",
      data.covered_means ? `covered: ${data.covered_means}` : ""].filter(Boolean).join("; "));
    body.replaceChildren(...rows.map((row) => {
      const tr = document.createElement("tr");
      tr.dataset.testid = "monitoring-row";
      tr.dataset.region = row.region || "";
      tr.append(...monitoringCells(row));
      return tr;
    }));
    const totals = data.totals;
    if (totals) {
      const tr = document.createElement("tr");
      tr.append(...monitoringCells(totals, "total"));
      foot.append(tr);
    }
  }

  /** "as of" the newest event applied (GET /freshness), with the lag behind the broker;
   *  the answers' own as_of where the service has no /freshness. */
  function drawFreshness(answer, fallbacks) {
    const f = answer.body;
    const stamps = f ? [f.as_of].filter(Boolean) : fallbacks.filter(Boolean);
    const newest = stamps.reduce((a, b) => (Date.parse(b) > Date.parse(a) ? b : a), stamps[0]);
    const when = newest ? jakarta(newest) : null;
    setText("as-of", when ? `as of ${when}` : "as of —");
    const notes = [];
    if (f && typeof f.lag === "number") {
      notes.push(f.lag === 0 ? "up to date" : `${group(f.lag)} events still to read`);
    }
    if (f && f.counting) notes.push("counting");
    if (f && f.rebuild && f.rebuild.running) {
      const done = typeof f.rebuild.replayed === "number" && typeof f.rebuild.total === "number"
        ? ` ${group(f.rebuild.replayed)} of ${group(f.rebuild.total)}` : "";
      notes.push(`rebuilding${done}`);
    }
    setText("lag", notes.length ? `· ${notes.join(" · ")}` : "");
  }

  // ---- one refresh ---------------------------------------------------------------------------

  function status(state, text) {
    document.body.dataset.state = state;
    $("status").textContent = text;
  }

  function remember(want) {
    const p = new URLSearchParams({ region: want.region });
    if (want.mode === "month") p.set("period", want.month);
    else { p.set("from", want.from); p.set("to", want.to); }
    history.replaceState(null, "", `#${p}`);
  }

  let shown = null; // what the figures on the page are of
  let scoped = false; // the key sees one region only (a sponsor's)
  let drawn = ""; // the answers they were drawn from

  /** The monitoring table's query: the province of the region shown (a key scoped to a
   *  regency: its own region, which the service picks when no province is named). */
  function monitoringParams(want) {
    return {
      province: scoped ? "" : want.region.slice(0, 2),
      year: (want.mode === "month" ? want.month : want.to).slice(0, 4),
      ...(want.mode === "month" ? { period: want.month } : {}),
    };
  }

  async function refresh(quiet = false) {
    const mine = ++run;
    const want = asked();
    remember(want);
    if (!quiet) status("loading", "Reading the figures…");
    const region = { region: want.region };
    const monthly = { region: want.region, from: want.chartFrom, to: want.chartTo, by: "month" };
    const withMonitoring = scoped || want.region !== "";
    try {
      const [cov, contrib, benefits, covM, conM, benM, monitoring, freshness] = await Promise.all([
        api("/coverage", { ...region, ...want.params }),
        api("/contributions", { ...region, ...want.params }),
        api("/benefits", { ...region, ...want.params }),
        optional("/coverage", monthly),
        optional("/contributions", monthly),
        optional("/benefits", monthly),
        withMonitoring ? optional("/monitoring", monitoringParams(want)) : Promise.resolve({ body: null }),
        optional("/freshness"),
      ]);
      if (mine !== run) return;
      const same = JSON.stringify([want, cov, contrib, benefits, covM, conM, benM, monitoring]);
      drawFreshness(freshness, [cov?.as_of, contrib?.as_of, benefits?.as_of]);
      if (quiet && same === drawn) return; // nothing changed: no redraw, no flicker
      drawn = same;
      drawTotals(want, cov, contrib, benefits);
      drawAreas(want, cov, contrib);
      drawMonths(want, covM.body, conM.body, benM.body, about(cov, want) ? cov.target : null);
      drawMonitoring(withMonitoring, monitoring);
      const partial = [cov, contrib, benefits].some((b) => !about(b, want));
      shown = want;
      $("monitoring-csv").disabled = $("monitoring-print").disabled = !monitoring.body;
      document.body.dataset.shown = `${want.region}|${want.mode === "month" ? want.month : `${want.from}..${want.to}`}`;
      status("ready", partial
        ? "Some figures are not available for this period from the service (shown as —)."
        : "");
    } catch (error) {
      if (mine !== run) return;
      if (error instanceof KeyRefused) return askForKey(error.message);
      status("error", `Could not read the figures: ${error.message}`);
    }
  }

  // ---- the key and the start -----------------------------------------------------------------

  function askForKey(message) {
    sessionStorage.removeItem(KEY);
    tagged.clear();
    $("board").hidden = true;
    $("key-panel").hidden = false;
    $("key-error").textContent = message || "";
    document.body.dataset.state = "key";
    $("key").focus();
  }

  async function open() {
    $("key-panel").hidden = true;
    $("board").hidden = false;
    status("loading", "Reading the regions…");
    const hash = new URLSearchParams(window.location.hash.slice(1));
    if (hash.get("from") && hash.get("to")) {
      q('input[name="mode"][value="range"]').checked = true;
      $("from").value = hash.get("from");
      $("to").value = hash.get("to");
    }
    $("month").value = hash.get("period") || $("month").value || thisMonth();
    showMode();
    try {
      await loadProvinces(hash.get("region") || "");
    } catch (error) {
      if (error instanceof KeyRefused) return askForKey(error.message);
      return status("error", `Could not read the regions: ${error.message}`);
    }
    await refresh();
  }

  function showMode() {
    const mode = q('input[name="mode"]:checked').value;
    for (const label of document.querySelectorAll("[data-mode]")) {
      label.hidden = label.dataset.mode !== mode;
    }
    $("month").required = mode === "month";
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("key-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const value = $("key").value.trim();
      if (!value) return;
      sessionStorage.setItem(KEY, value);
      $("key").value = "";
      open();
    });
    $("controls").addEventListener("submit", (event) => {
      event.preventDefault();
      refresh();
    });
    // Read again every 30 s while the page is in view: the API answers 304 (its ETag) when
    // nothing changed, so a wall screen left open costs the service almost nothing.
    setInterval(() => {
      if (document.visibilityState === "visible" && document.body.dataset.state === "ready") {
        refresh(true);
      }
    }, POLL_MS);
    $("province").addEventListener("change", async () => {
      try {
        await loadRegencies("");
      } catch (error) {
        if (error instanceof KeyRefused) return askForKey(error.message);
      }
      refresh();
    });
    $("regency").addEventListener("change", () => refresh());
    for (const radio of document.querySelectorAll('input[name="mode"]')) {
      radio.addEventListener("change", showMode);
    }
    $("areas-csv").addEventListener("click", () => {
      if (shown) download("/coverage", { region: shown.region, ...shown.params, format: "csv" }, "coverage.csv");
    });
    $("monitoring-csv").addEventListener("click", () => {
      if (shown) download("/monitoring", { ...monitoringParams(shown), format: "csv" }, "monitoring.csv");
    });
    $("monitoring-print").addEventListener("click", () => {
      if (!shown) return;
      const params = monitoringParams(shown);
      download("/monitoring/print", params, `monitoring-${params.province}-${params.year}.html`);
    });
    $("forget").addEventListener("click", () => askForKey("The key was forgotten."));
    if (key()) open();
    else askForKey("");
  });
})();
