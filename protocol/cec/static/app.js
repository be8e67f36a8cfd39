/* PCOS-KG results website: renders the CEC's JSON API in Kyrgyz or Russian.
 *
 * The server computes every count and share; this script never derives a
 * number it shows. Before showing a page it CHECKS the page's sums (shares add
 * up to 100 % of valid votes, votes add up to valid, valid + invalid = cast, a
 * station's devices add up to the station) and, if a check fails, shows an
 * integrity warning instead of the numbers. The outcome is in the DOM:
 * #content[data-integrity] is "ok" or "fail", [data-integrity-failures] says why.
 * It polls the API every few seconds (?poll=ms) and re-renders without a reload.
 */
"use strict";
(function () {
  const body = document.body;
  const LANG = body.dataset.lang === "ru" ? "ru" : "ky";
  const PAGE = body.dataset.page;
  const KEY = body.dataset.key;
  const params = new URLSearchParams(location.search);
  const POLL_MS = Math.max(250, Number(params.get("poll")) || 3000);

  const TEXT = {
    ky: {
      national: "Жалпы республикалык натыйжалар", districts: "Бир мандаттуу округдар",
      stations: "Шайлоо участоктору", progress: "Жыйынтыктардын келиши",
      station: "Участок", party: "Партия", candidate: "Талапкер", votes: "Добуштар",
      share: "Жарактуу добуштардагы үлүшү", threshold: "Босого", passes: "Босогодон өттү",
      reported: "Маалымат берген участоктор", of: "ичинен", turnout: "Катышуу",
      ballots: "Берилген бюллетендер", valid: "Жарактуу", invalid: "Жараксыз",
      voters: "Шайлоочулар", leader: "Алдыда", district: "Округ", region: "Аймак",
      tec: "АШК", rerun: "Кайра шайлоо", rerun_why: "«Баарына каршы» алдыдагы талапкерден көп добуш алды",
      share_short: "Үлүшү", stations_short: "Участоктор", council: "Жергиликтүү кеңеш", more: "дагы",
      sheet_cast: "саналды", sheet_marginal: "текшерүүгө", sheet_returned: "кайтарылды",
      status_partial: "алдын ала, толук эмес", status_complete: "алдын ала, толук",
      last_updated: "Акыркы жаңыртуу:", offline: "Сервер менен байланыш жок",
      integrity: "Эскертүү: бул барактагы сандар бири-бирине дал келбейт, ошондуктан алар көрсөтүлбөйт.",
      devices: "Түзмөктөрдүн отчёттору", device: "Түзмөк", sequence: "№", device_time: "Түзмөктүн убактысы",
      received: "Кабыл алынды", hash: "Билдирүүнүн хэши", sheets: "Барактар",
      total: "Участок боюнча", dec: "УШКнын протоколу", dec_pages: "Протоколдун барактары",
      compare: "Аппарат жана протокол", machine: "Аппарат", protocol: "Протокол",
      difference: "Айырма", discrepancies: "Дал келбестиктер", no_discrepancies: "Дал келбестик жок",
      not_reported: "Участок азырынча маалымат бере элек.", no_dec: "УШКнын протоколу азырынча келе элек.",
      party_list: "Партиялык тизме", yes: "ооба", no: "жок", missing: "Маалымат бере элек участоктор",
      zero_reports: "Нөл отчёттор", registered: "Катталган түзмөктөр", time: "Убакыт",
      ballots_cast: "Берилген бюллетендер", discrepant: "Протоколу дал келбеген участоктор",
      none: "жок", chart_title: "Маалымат берген участоктор убакыт боюнча", all_stations: "Бардык участоктор",
      against_all: "Баарына каршы",
    },
    ru: {
      national: "Общереспубликанские результаты", districts: "Одномандатные округа",
      stations: "Избирательные участки", progress: "Поступление результатов",
      station: "Участок", party: "Партия", candidate: "Кандидат", votes: "Голоса",
      share: "Доля действительных голосов", threshold: "Порог", passes: "Прошла порог",
      reported: "Участков сообщили", of: "из", turnout: "Явка",
      ballots: "Поданные бюллетени", valid: "Действительные", invalid: "Недействительные",
      voters: "Избиратели", leader: "Лидер", district: "Округ", region: "Регион",
      tec: "ТИК", rerun: "Повторные выборы", rerun_why: "«Против всех» получило больше голосов, чем лидер",
      share_short: "Доля", stations_short: "Участки", council: "Местный кенеш", more: "ещё",
      sheet_cast: "засчитано", sheet_marginal: "на проверку", sheet_returned: "возвращено",
      status_partial: "предварительные, неполные", status_complete: "предварительные, полные",
      last_updated: "Последнее обновление:", offline: "Нет связи с сервером",
      integrity: "Внимание: суммы на этой странице не сходятся, поэтому числа не показаны.",
      devices: "Отчёты устройств", device: "Устройство", sequence: "№", device_time: "Время устройства",
      received: "Получено", hash: "Хэш сообщения", sheets: "Листы",
      total: "Итого по участку", dec: "Протокол УИК", dec_pages: "Страницы протокола",
      compare: "Машинный подсчёт и протокол", machine: "Машина", protocol: "Протокол",
      difference: "Разница", discrepancies: "Расхождения", no_discrepancies: "Расхождений нет",
      not_reported: "Участок ещё не сообщил результаты.", no_dec: "Протокол УИК ещё не поступил.",
      party_list: "Партийный список", yes: "да", no: "нет", missing: "Участки, ещё не сообщившие",
      zero_reports: "Нулевые отчёты", registered: "Зарегистрированные устройства", time: "Время",
      ballots_cast: "Поданные бюллетени", discrepant: "Участки с расхождениями",
      none: "нет", chart_title: "Участков сообщили по времени", all_stations: "Все участки",
      against_all: "Против всех",
    },
  }[LANG];

  let NAMES = null;
  let lastData = null;
  let renders = 0;
  let polls = 0;
  const content = document.getElementById("content");
  const warning = document.getElementById("integrity-warning");

  // --- small DOM helpers -------------------------------------------------------------------
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "text") node.textContent = String(v);
      else node.setAttribute(k, v === true ? "" : String(v));
    }
    for (const c of children.flat(Infinity)) {
      if (c === null || c === undefined) continue;
      node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return node;
  }
  const SVG_NS = "http://www.w3.org/2000/svg";
  function svg(tag, attrs, ...children) {
    const node = document.createElementNS(SVG_NS, tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "text") node.textContent = String(v);
      else node.setAttribute(k, String(v));
    }
    for (const c of children.flat(Infinity)) if (c) node.append(c);
    return node;
  }
  function href(path) {
    const q = new URLSearchParams({lang: LANG});
    if (params.get("poll")) q.set("poll", params.get("poll"));
    return path + "?" + q.toString();
  }
  function fmtInt(n) {
    return String(n).replace(/\B(?=(\d{3})+(?!\d))/g, "\u202f");
  }
  function fmtPct(x) {
    return Number(x).toFixed(2).replace(".", ",") + "\u00a0%";
  }
  function fmtTime(iso) {
    return iso ? iso.replace("T", " ").replace("Z", " UTC") : "—";
  }
  function outOf(n, total) {  // "3 of 2 494": Kyrgyz puts the whole first
    return LANG === "ky" ? `${fmtInt(total)} ${TEXT.of} ${fmtInt(n)}` : `${fmtInt(n)} ${TEXT.of} ${fmtInt(total)}`;
  }
  function tr(...cells) { return el("tr", {}, ...cells); }
  function td(value, attrs) { return el("td", attrs || {}, value); }
  function th(value, attrs) { return el("th", attrs || {}, value); }

  function partyName(id) {
    const n = NAMES && NAMES.parties[id];
    return n ? n[LANG] : id;
  }
  function optionName(contest, id) {
    if (contest === "party-list") return partyName(id);
    const c = NAMES && NAMES.contests[contest];
    return c && c[id] ? c[id][LANG] : id;
  }
  function contestName(contest) {
    if (contest === "party-list") return TEXT.party_list;
    const c = NAMES && NAMES.contest_names[contest];
    if (!c) return contest;
    return c.kind === "district" ? `${TEXT.district} ${c.number}: ${c[LANG]}` : `${TEXT.council}: ${c[LANG]}`;
  }
  function areaName(kind, id) {
    const a = NAMES && NAMES[kind] && NAMES[kind][id];
    return a ? a[LANG] : id;
  }

  // --- sum checks (pure: data in, list of failures out) -------------------------------------
  const CENT = 0.005 + 1e-9; // shares are rounded to 0.01 %
  function checkContest(c, where) {
    const f = [];
    if (c.valid + c.invalid !== c.ballots) {
      f.push(`${where}: valid ${c.valid} + invalid ${c.invalid} != cast ${c.ballots}`);
    }
    const votes = c.options.reduce((a, o) => a + o.votes, 0);
    if (votes !== c.valid) f.push(`${where}: votes add up to ${votes}, valid is ${c.valid}`);
    const shares = c.options.reduce((a, o) => a + o.share_pct, 0);
    if (c.valid > 0) {
      if (Math.abs(shares - 100) > CENT * c.options.length) {
        f.push(`${where}: shares add up to ${shares.toFixed(2)} %, not 100 %`);
      }
      for (const o of c.options) {
        if (Math.abs(o.share_pct - 100 * o.votes / c.valid) > CENT) {
          f.push(`${where}: share of ${o.option} is ${o.share_pct} % for ${o.votes} of ${c.valid}`);
        }
      }
    } else if (shares !== 0) {
      f.push(`${where}: shares without valid votes`);
    }
    if (c.checks) {
      for (const [name, ok] of Object.entries(c.checks)) if (!ok) f.push(`${where}: server check ${name} failed`);
    }
    return f;
  }

  function checkNational(nat) {
    const f = checkContest(nat.party_list, "party list");
    if (nat.ballots_cast !== nat.party_list.ballots) {
      f.push(`ballots cast ${nat.ballots_cast} != party-list ballots ${nat.party_list.ballots}`);
    }
    if (nat.stations_reported > nat.stations) f.push("more stations reported than exist");
    return f;
  }

  function checkProgress(progress, total) {
    const f = [];
    progress.forEach((p, i) => {
      if (p.stations_reported !== i + 1) f.push(`progress point ${i} says ${p.stations_reported}`);
      if (i && p.time < progress[i - 1].time) f.push(`progress point ${i} goes back in time`);
    });
    if (total !== undefined && progress.length > total) f.push("progress beyond all stations");
    return f;
  }

  function checkStation(st) {
    const f = [];
    if (!st.reported) return f;
    for (const [cid, c] of Object.entries(st.results)) {
      f.push(...checkContest(c, `station ${st.station} ${cid}`));
      for (const o of c.options) {
        const sum = st.devices.reduce((a, d) => {
          const dc = d.tally.contests[cid];
          return a + (dc ? (dc.options[o.option] || 0) : 0);
        }, 0);
        if (sum !== o.votes) f.push(`station ${st.station} ${cid}: devices give ${o.option} ${sum}, station ${o.votes}`);
      }
      const ballots = st.devices.reduce((a, d) => a + (d.ballots[cid] || 0), 0);
      if (ballots !== c.ballots) f.push(`station ${st.station} ${cid}: devices cast ${ballots}, station ${c.ballots}`);
    }
    for (const d of st.devices) {
      for (const [cid, dc] of Object.entries(d.tally.contests)) {
        if (dc.valid + dc.invalid !== dc.ballots) f.push(`device ${d.device_id} ${cid}: valid + invalid != cast`);
      }
    }
    if (st.checks && !st.checks.devices_add_up) f.push(`station ${st.station}: server check devices_add_up failed`);
    return f;
  }

  function checkStations({stations, nat}) {
    // The station lines must add up to the national figures served by another endpoint.
    const f = stations.filter((s) => s.reported !== (s.devices_reported > 0))
      .map((s) => `station ${s.station}: reported ${s.reported} with ${s.devices_reported} devices`);
    const reported = stations.filter((s) => s.reported);
    const ballots = reported.reduce((a, s) => a + s.ballots_cast, 0);
    if (reported.length !== nat.stations_reported) {
      f.push(`stations reported: ${reported.length} listed, ${nat.stations_reported} national`);
    }
    if (ballots !== nat.ballots_cast) f.push(`stations add up to ${ballots} ballots, national says ${nat.ballots_cast}`);
    if (stations.length !== nat.stations) f.push(`${stations.length} stations listed of ${nat.stations}`);
    return f;
  }

  // --- charts (SVG, drawn here) --------------------------------------------------------------
  function sharesChart(contest) {
    const rows = contest.options;
    const threshold = contest.threshold_pct;
    const maxShare = Math.max(10, threshold ? threshold * 2 : 0, ...rows.map((o) => o.share_pct));
    const scaleMax = Math.ceil(maxShare / 10) * 10;
    const labelW = 230, barW = 380, rowH = 20, top = 22, width = labelW + barW + 70;
    const height = top + rows.length * rowH + 8;
    const x = (pct) => labelW + (barW * pct) / scaleMax;
    const chart = svg("svg", {id: "shares-chart", class: "chart", viewBox: `0 0 ${width} ${height}`,
      width, height, role: "img", "aria-label": TEXT.share});
    rows.forEach((o, i) => {
      const y = top + i * rowH;
      const cls = o.option === "against-all" ? "bar against" : o.passes_threshold ? "bar pass" : "bar";
      chart.append(
        svg("text", {x: labelW - 6, y: y + 14, "text-anchor": "end", class: "label", text: optionName("party-list", o.option)}),
        svg("rect", {x: labelW, y: y + 3, width: Math.max(0, x(o.share_pct) - labelW), height: rowH - 6, class: cls}),
        svg("text", {x: x(o.share_pct) + 4, y: y + 14, class: "value", text: fmtPct(o.share_pct)}));
    });
    if (threshold) {
      chart.append(
        svg("line", {id: "threshold-line", x1: x(threshold), x2: x(threshold), y1: top - 6, y2: height - 4,
          class: "threshold", "data-threshold-pct": threshold}),
        svg("text", {x: x(threshold), y: top - 9, "text-anchor": "middle", class: "threshold-label",
          text: `${TEXT.threshold} ${threshold} %`}));
    }
    return chart;
  }

  function progressChart(progress, total, big) {
    const width = big ? 720 : 420, height = big ? 260 : 150, left = 44, right = 12, top = 12, bottom = 26;
    const chart = svg("svg", {id: "progress-chart", class: "chart", viewBox: `0 0 ${width} ${height}`, width, height,
      role: "img", "aria-label": TEXT.chart_title, "data-points": progress.length});
    const x0 = left, x1 = width - right, y0 = height - bottom, y1 = top;
    // Early in the evening a few stations of thousands would hug the axis: the scale is
    // the next round number above what has arrived, up to all stations.
    const reported = progress.length ? progress[progress.length - 1].stations_reported : 0;
    const yMax = niceCeil(Math.max(1, reported * 1.2), total);
    chart.dataset.yMax = String(yMax);
    chart.append(svg("line", {x1: x0, x2: x1, y1: y0, y2: y0, class: "axis"}),
      svg("line", {x1: x0, x2: x0, y1: y0, y2: y1, class: "axis"}),
      svg("text", {x: x0 - 4, y: y0 + 4, "text-anchor": "end", class: "tick", text: "0"}),
      svg("text", {x: x0 - 4, y: y1 + 8, "text-anchor": "end", class: "tick", text: fmtInt(yMax)}),
      svg("line", {x1: x0, x2: x1, y1: y1, y2: y1, class: "grid"}));
    if (yMax < total) {
      chart.append(svg("text", {x: x1, y: y1 - 2, "text-anchor": "end", class: "tick",
        text: `${TEXT.all_stations}: ${fmtInt(total)}`}));
    }
    if (!progress.length) return chart;
    const times = progress.map((p) => Date.parse(p.time));
    const t0 = times[0], t1 = Math.max(times[times.length - 1], t0 + 60000);
    const px = (t) => x0 + ((x1 - x0) * (t - t0)) / (t1 - t0);
    const py = (n) => y0 - ((y0 - y1) * n) / yMax;
    let d = `M${px(t0)},${py(0)}`;
    progress.forEach((p, i) => { d += ` H${px(times[i])} V${py(p.stations_reported)}`; });
    d += ` H${x1}`;
    chart.append(svg("path", {d, class: "progress-line"}));
    progress.forEach((p, i) => chart.append(svg("circle", {cx: px(times[i]), cy: py(p.stations_reported), r: 2.5, class: "point"})));
    const hhmm = (t) => new Date(t).toISOString().slice(11, 16) + " UTC";
    chart.append(svg("text", {x: x0, y: height - 8, class: "tick", text: hhmm(t0)}),
      svg("text", {x: x1, y: height - 8, "text-anchor": "end", class: "tick", text: hhmm(t1)}));
    return chart;
  }

  function niceCeil(x, cap) {  // 1, 2, 2.5, 5 times a power of ten, at most cap
    for (let p = 1; ; p *= 10) {
      for (const m of [1, 2, 2.5, 5]) if (m * p >= x) return Math.min(cap, Math.ceil(m * p));
      if (p > cap) return cap;
    }
  }

  // --- pages ---------------------------------------------------------------------------------
  function summary(items) {
    return el("dl", {class: "summary"}, items.map(([k, v, attrs]) => [el("dt", {}, k), el("dd", attrs || {}, v)]));
  }

  function contestTable(contest, cid, extraHead, extraCells) {
    const head = tr(th(cid === "party-list" ? TEXT.party : TEXT.candidate), ...(extraHead || []),
      th(TEXT.votes, {class: "num"}), th(TEXT.share, {class: "num"}));
    if (contest.threshold_pct !== null && contest.threshold_pct !== undefined) head.append(th(TEXT.passes));
    const rows = contest.options.map((o) => {
      const row = el("tr", {"data-option": o.option, "data-votes": o.votes, "data-share": o.share_pct,
        class: o.option === "against-all" ? "against" : null},
        td(optionName(cid, o.option), {class: "name"}), ...(extraCells ? extraCells(o) : []),
        td(fmtInt(o.votes), {class: "num votes"}), td(fmtPct(o.share_pct), {class: "num share"}));
      if (contest.threshold_pct !== null && contest.threshold_pct !== undefined) {
        row.append(td(o.passes_threshold ? "✓" : "", {class: "passes"}));
      }
      return row;
    });
    return el("table", {class: "results", "data-contest": cid}, el("thead", {}, head), el("tbody", {}, rows));
  }

  function statusText(status) {
    return status === "unofficial-complete" ? TEXT.status_complete : TEXT.status_partial;
  }

  function renderNational({nat, progress}) {
    document.getElementById("status").textContent = statusText(nat.status);
    const pl = nat.party_list;
    const reportedPct = nat.stations ? (100 * nat.stations_reported / nat.stations) : 0;
    return [
      el("h1", {}, TEXT.national),
      summary([
        [TEXT.reported, outOf(nat.stations_reported, nat.stations),
          {id: "stations-reported", "data-value": nat.stations_reported, "data-total": nat.stations}],
        [TEXT.ballots, fmtInt(nat.ballots_cast), {id: "ballots-cast", "data-value": nat.ballots_cast}],
        [TEXT.valid, fmtInt(pl.valid), {id: "valid", "data-value": pl.valid}],
        [TEXT.invalid, fmtInt(pl.invalid), {id: "invalid", "data-value": pl.invalid}],
        [TEXT.turnout, fmtPct(nat.turnout_pct), {id: "turnout", "data-value": nat.turnout_pct}],
        [TEXT.threshold, `${pl.threshold_pct} %`, {id: "threshold", "data-value": pl.threshold_pct}],
      ]),
      el("div", {class: "bar-track", title: fmtPct(reportedPct)},
        el("div", {class: "bar-fill", style: `width:${reportedPct.toFixed(2)}%`})),
      el("section", {}, sharesChart(pl)),
      el("section", {}, contestTable(pl, "party-list")),
      el("section", {}, el("h2", {}, TEXT.chart_title), progressChart(progress, nat.stations, false)),
      el("section", {}, el("h2", {}, TEXT.discrepant),
        nat.discrepant_stations.length
          ? el("ul", {class: "inline", id: "discrepant"}, nat.discrepant_stations.map((s) =>
            el("li", {}, el("a", {href: href(`/station/${s}`), class: "discrepancy"}, s))))
          : el("p", {id: "discrepant"}, TEXT.none)),
    ];
  }

  function renderDistricts({districts}) {
    const rows = districts.map((d) => {
      const c = d.results;
      const leader = c.options.find((o) => o.option === d.leader);
      const against = c.options.find((o) => o.option === "against-all");
      const rerun = c.against_all_beats_leader;
      return el("tr", {"data-district": d.district, "data-leader": d.leader || "",
        "data-leader-votes": leader ? leader.votes : "", "data-rerun": rerun ? "yes" : "no",
        class: rerun ? "rerun" : null},
        td(String(d.district), {class: "num"}),
        td(el("a", {href: href(`/area/district/${d.district}`)}, d.name[LANG])),
        td(`${d.stations_reported} / ${d.stations}`, {class: "num"}),
        td(leader ? optionName(d.contest, leader.option) : "—", {class: "leader"}),
        td(leader ? fmtInt(leader.votes) : "", {class: "num votes"}),
        td(leader ? fmtPct(leader.share_pct) : "", {class: "num share"}),
        td(against ? fmtInt(against.votes) : "", {class: "num"}),
        td(rerun ? TEXT.rerun : "", {class: "flag", title: rerun ? TEXT.rerun_why : null}));
    });
    return [el("h1", {}, TEXT.districts),
      el("table", {class: "results", id: "districts"},
        el("thead", {}, tr(th(TEXT.district), th(""), th(TEXT.stations_short, {title: TEXT.reported}), th(TEXT.leader),
          th(TEXT.votes, {class: "num"}), th(TEXT.share_short, {class: "num", title: TEXT.share}),
          th(TEXT.against_all, {class: "num"}), th(""))),
        el("tbody", {}, rows))];
  }

  function renderStations({stations}) {
    const rows = stations.map((s) => el("tr", {"data-station": s.station, "data-reported": s.reported ? "yes" : "no",
      class: s.discrepancies ? "discrepancy" : null},
      td(el("a", {href: href(`/station/${s.station}`)}, s.station)),
      td(el("a", {href: href(`/area/region/${s.region}`)}, areaName("regions", s.region))),
      td(s.district === null ? "—" : String(s.district), {class: "num"}),
      td(s.reported ? TEXT.yes : TEXT.no), td(String(s.devices_reported), {class: "num"}),
      td(fmtInt(s.ballots_cast), {class: "num"}), td(s.dec_protocol ? TEXT.yes : TEXT.no),
      td(String(s.discrepancies), {class: "num"})));
    const reported = stations.filter((s) => s.reported).length;
    return [el("h1", {}, TEXT.stations),
      el("p", {id: "stations-reported", "data-value": reported}, `${TEXT.reported}: ${outOf(reported, stations.length)}`),
      el("table", {class: "results", id: "stations"},
        el("thead", {}, tr(th(TEXT.station), th(TEXT.region), th(TEXT.district), th(TEXT.reported),
          th(TEXT.devices), th(TEXT.ballots, {class: "num"}), th(TEXT.dec), th(TEXT.discrepancies, {class: "num"}))),
        el("tbody", {}, rows))];
  }

  function renderStation({st}) {
    const out = [el("h1", {}, `${TEXT.station} ${st.station}`),
      summary([
        [TEXT.region, el("a", {href: href(`/area/region/${st.region}`)}, areaName("regions", st.region))],
        [TEXT.tec, el("a", {href: href(`/area/tec/${st.tec}`)}, areaName("tecs", st.tec))],
        [TEXT.district, st.district === null ? "—" : el("a", {href: href(`/area/district/${st.district}`)}, `${st.district}`)],
        [TEXT.voters, fmtInt(st.voters), {id: "voters", "data-value": st.voters}],
        [TEXT.registered, st.devices_registered.join(", ")],
        [TEXT.zero_reports, String(st.zero_reports)],
        [TEXT.turnout, st.turnout_pct === null ? "—" : fmtPct(st.turnout_pct), {id: "turnout"}],
      ])];
    if (!st.reported) {
      out.push(el("p", {id: "not-reported", class: "note"}, TEXT.not_reported));
      return out;
    }
    out.push(el("h2", {}, TEXT.devices), el("table", {class: "results", id: "devices"},
      el("thead", {}, tr(th(TEXT.device), th(TEXT.sequence), th(TEXT.device_time), th(TEXT.received),
        th(TEXT.ballots, {class: "num"}), th(TEXT.sheets), th(TEXT.hash))),
      el("tbody", {}, st.devices.map((d) => el("tr", {"data-device": d.device_id, "data-ballots": d.ballots["party-list"]},
        td(d.device_id, {class: "nowrap"}), td(String(d.sequence), {class: "num"}), td(fmtTime(d.device_time)), td(fmtTime(d.received_at)),
        td(fmtInt(d.ballots["party-list"] || 0), {class: "num"}),
        td(Object.entries(d.sheets).map(([k, v]) => `${TEXT["sheet_" + k] || k}: ${v}`).join(", ")),
        td(d.message_hash.slice(0, 16) + "…", {class: "mono", title: d.message_hash}))))));
    const order = (cid) => (cid === "party-list" ? "" : cid);  // the party list first
    const contests = Object.entries(st.results).sort(([a], [b]) => order(a).localeCompare(order(b)));
    for (const [cid, c] of contests) {
      const devs = st.devices;
      const head = devs.map((d) => th(d.device_id, {class: "num"}));
      const cells = (o) => devs.map((d) => td(fmtInt((d.tally.contests[cid] || {options: {}}).options[o.option] || 0), {class: "num"}));
      const table = contestTable(c, cid, head, cells);
      table.querySelector("thead tr").children[devs.length + 1].textContent = TEXT.total;
      const foot = el("tfoot", {},
        [[TEXT.valid, "valid"], [TEXT.invalid, "invalid"], [TEXT.ballots, "ballots"]].map(([label, k]) =>
          el("tr", {"data-figure": k, "data-value": c[k]}, th(label),
            devs.map((d) => td(fmtInt((d.tally.contests[cid] || {})[k] || 0), {class: "num"})),
            td(fmtInt(c[k]), {class: "num votes"}), td(""))));
      table.append(foot);
      out.push(el("h2", {}, contestName(cid)), table);
    }
    out.push(el("h2", {}, TEXT.dec));
    if (!st.dec_protocol) {
      out.push(el("p", {id: "no-dec", class: "note"}, TEXT.no_dec));
      return out;
    }
    const dec = st.dec_protocol;
    const byKey = new Map(st.discrepancies.map((d) => [`${d.contest}/${d.option}`, d]));
    const rows = [];
    const machineCast = st.results["party-list"] ? st.results["party-list"].ballots : 0;
    const castDiff = byKey.get("party-list/ballots_cast");
    rows.push(el("tr", {"data-key": "ballots_cast", class: castDiff ? "discrepancy" : null},
      td(TEXT.ballots_cast), td(fmtInt(machineCast), {class: "num"}), td(fmtInt(dec.figures.ballots_cast), {class: "num"}),
      td(castDiff ? String(castDiff.difference) : "0", {class: "num"})));
    for (const [cid, options] of Object.entries(dec.figures.votes)) {
      const c = st.results[cid];
      const machine = new Map(c ? c.options.map((o) => [o.option, o.votes]) : []);
      const keys = [...new Set([...machine.keys(), ...Object.keys(options)])];
      for (const o of keys) {
        const d = byKey.get(`${cid}/${o}`);
        rows.push(el("tr", {"data-key": `${cid}/${o}`, class: d ? "discrepancy" : null},
          td(`${contestName(cid)}: ${optionName(cid, o)}`),
          td(fmtInt(machine.get(o) || 0), {class: "num"}), td(fmtInt(options[o] || 0), {class: "num"}),
          td(d ? (d.difference > 0 ? "+" : "") + d.difference : "0", {class: "num"})));
      }
    }
    out.push(el("p", {id: "discrepancy-count", "data-value": st.discrepancies.length,
      class: st.discrepancies.length ? "discrepancy-note" : "note"},
      st.discrepancies.length ? `${TEXT.discrepancies}: ${st.discrepancies.length}` : TEXT.no_discrepancies),
    el("table", {class: "results", id: "comparison"},
      el("thead", {}, tr(th(""), th(TEXT.machine, {class: "num"}), th(TEXT.protocol, {class: "num"}), th(TEXT.difference, {class: "num"}))),
      el("tbody", {}, rows)),
    el("h3", {}, TEXT.dec_pages),
    el("div", {class: "dec-pages"}, Array.from({length: dec.pages}, (_, i) =>
      el("a", {href: `/api/station/${st.station}/dec/${i}.png`},
        el("img", {src: `/api/station/${st.station}/dec/${i}.png?h=${dec.message_hash.slice(0, 12)}`,
          alt: `${TEXT.dec} ${i + 1}`, class: "dec-page"})))));
    return out;
  }

  function renderArea({area}) {
    const [level, key] = KEY.split("/");
    const title = level === "region" ? `${TEXT.region}: ${areaName("regions", key)}`
      : level === "tec" ? `${TEXT.tec}: ${areaName("tecs", key)}`
        : contestName(`district-${String(key).padStart(2, "0")}`);
    const out = [el("h1", {}, title), summary([
      [TEXT.reported, outOf(area.stations_reported, area.stations),
        {id: "stations-reported", "data-value": area.stations_reported, "data-total": area.stations}],
      [TEXT.ballots, fmtInt(area.ballots_cast), {id: "ballots-cast", "data-value": area.ballots_cast}],
      [TEXT.turnout, fmtPct(area.turnout_pct), {id: "turnout"}],
    ])];
    const order = (cid) => (cid === "party-list" ? "" : cid);
    for (const [cid, c] of Object.entries(area.contests).sort(([a], [b]) => order(a).localeCompare(order(b)))) {
      out.push(el("h2", {}, contestName(cid)));
      if (cid === "party-list") out.push(sharesChart(c));
      out.push(contestTable(c, cid));
      if (c.against_all_beats_leader) out.push(el("p", {class: "discrepancy-note", title: TEXT.rerun_why}, TEXT.rerun));
    }
    out.push(el("h2", {}, TEXT.discrepant), area.discrepant_stations.length
      ? el("ul", {class: "inline", id: "discrepant"}, area.discrepant_stations.map((s) =>
        el("li", {}, el("a", {href: href(`/station/${s}`), class: "discrepancy"}, s))))
      : el("p", {id: "discrepant"}, TEXT.none));
    return out;
  }

  function renderProgress({progress, nat}) {
    return [el("h1", {}, TEXT.progress),
      el("p", {id: "stations-reported", "data-value": nat.stations_reported},
        `${TEXT.reported}: ${outOf(nat.stations_reported, nat.stations)}`),
      progressChart(progress, nat.stations, true),
      el("table", {class: "results", id: "progress"},
        el("thead", {}, tr(th(TEXT.time), th(TEXT.reported, {class: "num"}))),
        el("tbody", {}, progress.slice(-30).reverse().map((p) =>
          tr(td(fmtTime(p.time)), td(`${p.stations_reported} (${fmtPct(p.share_pct)})`, {class: "num"})))))];
  }

  // --- data per page ---------------------------------------------------------------------------
  async function getJson(url) {
    const r = await fetch(url, {cache: "no-store"});
    if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`);
    return r.json();
  }
  const PAGES = {
    national: {
      load: async () => ({nat: await getJson("/api/national"), progress: await getJson("/api/progress")}),
      check: (d) => [...checkNational(d.nat), ...checkProgress(d.progress, d.nat.stations)],
      render: renderNational,
    },
    districts: {
      load: async () => ({districts: await getJson("/api/districts")}),
      check: (d) => d.districts.flatMap((x) => checkContest(x.results, `district ${x.district}`)),
      render: renderDistricts,
    },
    stations: {
      load: async () => ({stations: await getJson("/api/stations"), nat: await getJson("/api/national")}),
      check: checkStations,
      render: renderStations,
    },
    station: {
      load: async () => ({st: await getJson(`/api/station/${encodeURIComponent(KEY)}`)}),
      check: (d) => checkStation(d.st),
      render: renderStation,
    },
    area: {
      load: async () => ({area: await getJson(`/api/area/${KEY.split("/").map(encodeURIComponent).join("/")}`)}),
      check: (d) => Object.entries(d.area.contests).flatMap(([cid, c]) => checkContest(c, cid)),
      render: renderArea,
    },
    progress: {
      load: async () => ({nat: await getJson("/api/national"), progress: await getJson("/api/progress")}),
      check: (d) => checkProgress(d.progress, d.nat.stations),
      render: renderProgress,
    },
  };

  // --- chrome (nav, language switch) --------------------------------------------------------------
  function chrome() {
    document.getElementById("election-name").textContent = NAMES.election[LANG];
    const nav = document.getElementById("nav");
    nav.replaceChildren(...[["/", TEXT.national, "national"], ["/districts", TEXT.districts, "districts"],
      ["/stations", TEXT.stations, "stations"], ["/progress", TEXT.progress, "progress"]].map(([path, label, page]) =>
      el("a", {href: href(path), class: page === PAGE ? "active" : null}, label)));
    const here = location.pathname;
    const sw = document.getElementById("lang-switch");
    const other = (lang) => {
      const q = new URLSearchParams(location.search);
      q.set("lang", lang);
      return `${here}?${q.toString()}`;
    };
    sw.replaceChildren(
      el("a", {href: other("ky"), id: "lang-ky", hreflang: "ky", class: LANG === "ky" ? "active" : null}, "Кыргызча"),
      el("a", {href: other("ru"), id: "lang-ru", hreflang: "ru", class: LANG === "ru" ? "active" : null}, "Русский"));
    document.getElementById("last-updated-label").textContent = TEXT.last_updated;
  }

  async function refresh() {
    const spec = PAGES[PAGE];
    const conn = document.getElementById("connection");
    try {
      if (!NAMES) { NAMES = await getJson("/site/names.json"); chrome(); }
      let data = await spec.load();
      let text = JSON.stringify(data);
      if (text !== lastData) {
        let failures = spec.check(data);
        if (failures.length) {
          // Endpoints are read one after the other: a result arriving in between can make
          // them disagree for a moment. Read again once; a real fault persists.
          data = await spec.load();
          text = JSON.stringify(data);
          failures = spec.check(data);
        }
        content.dataset.integrity = failures.length ? "fail" : "ok";
        content.dataset.integrityFailures = failures.join("; ");
        if (failures.length) {
          const shown = failures.slice(0, 8).map((f) => el("li", {}, f));
          if (failures.length > 8) shown.push(el("li", {}, `… ${TEXT.more} ${failures.length - 8}`));
          warning.replaceChildren(el("strong", {}, TEXT.integrity), el("ul", {}, shown));
          warning.hidden = false;
          content.replaceChildren();
        } else {
          warning.hidden = true;
          content.replaceChildren(...spec.render(data).flat());
        }
        lastData = text;
        renders += 1;
        content.dataset.renders = String(renders);
      }
      polls += 1;
      content.dataset.updates = String(polls);
      const now = new Date();
      const stamp = document.getElementById("last-updated");
      stamp.textContent = now.toLocaleTimeString(LANG === "ru" ? "ru-RU" : "ky-KG", {hour12: false});
      stamp.setAttribute("datetime", now.toISOString());
      conn.textContent = "";
    } catch (err) {
      conn.textContent = `${TEXT.offline} (${err.message})`;
    }
    setTimeout(refresh, POLL_MS);
  }

  // The checks, for tests that feed them generated data in a real browser.
  window.PcosChecks = Object.freeze({checkContest, checkNational, checkStation, checkStations, checkProgress});
  refresh();
})();
