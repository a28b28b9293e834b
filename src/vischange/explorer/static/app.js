// vischange explorer: a static page, no build step, no library.
// Data come as small JavaScript files (data/*.js calling VX.put), loaded with <script> tags on
// demand: browsers refuse fetch() of local files, and one file per layer keeps the real study fast.
// Views are chosen by the URL's hash (#view=channel&layer=0&channel=12), so every view has a link.
"use strict";

const VX = (window.VX = window.VX || {});
VX.store = {};
VX.waiting = {};

// Called by every data file.
VX.put = function (kind, key, data) {
  const id = kind + ":" + key;
  VX.store[id] = data;
  (VX.waiting[id] || []).forEach((done) => done(data));
  delete VX.waiting[id];
};

function load(kind, key, file) {
  const id = kind + ":" + key;
  if (id in VX.store) return Promise.resolve(VX.store[id]);
  return new Promise((resolve, reject) => {
    const first = !(id in VX.waiting);
    (VX.waiting[id] = VX.waiting[id] || []).push(resolve);
    if (!first) return;
    const script = document.createElement("script");
    script.src = file;
    script.onerror = () => reject(new Error("could not load " + file));
    document.head.appendChild(script);
  });
}

// ---------- small helpers

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(node.dataset, v);
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.appendChild(typeof child === "string" || typeof child === "number" ? document.createTextNode(String(child)) : child);
  }
  return node;
}

function fmt(v) {
  if (v === null || v === undefined) return "–";
  if (typeof v === "boolean") return v ? "yes" : "no";
  if (typeof v === "number") {
    if (Number.isInteger(v)) return String(v);
    const a = Math.abs(v);
    return a !== 0 && (a < 1e-3 || a >= 1e5) ? v.toExponential(2) : v.toPrecision(3);
  }
  return String(v);
}

function pad4(c) { return String(c).padStart(4, "0"); }

function hashParams() { return new URLSearchParams(location.hash.replace(/^#/, "")); }

function link(params) {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== null && v !== undefined && v !== "") p.set(k, v);
  return "#" + p.toString();
}

function setReady(view) {
  document.body.dataset.view = view;
  document.body.dataset.ready = "1";
  VX.readyAt = performance.now();
}

function showError(message) {
  const box = document.getElementById("error");
  box.hidden = false;
  box.textContent = message;
}

// Column names as the table heads show them, with what they mean (title tooltips).
const COLUMN_INFO = {
  channel: ["channel", "channel index in the layer"],
  status: ["status", "calibrated test: changed, unchanged, identical (bit-identical renders), died, born, gray_both, untestable"],
  effect_size: ["change", "effect size of the calibrated test: base-vs-fine-tuned render distance over seed-vs-seed noise"],
  p_value: ["p", "p-value of the calibrated test"],
  q_value: ["q", "Benjamini-Hochberg q-value within the layer"],
  significant: ["sig.", "q ≤ the configured FDR"],
  cosine: ["cosine", "cosine similarity of base and fine-tuned renders (embedding features), across seeds"],
  noise_floor: ["floor", "noise floor of the layer: a low percentile of seed-vs-seed cosines"],
  change_score: ["score", "(1 − cosine) / (1 − floor)"],
  gray_base: ["gray b", "the base render is gray (no feature found)"],
  gray_finetuned: ["gray f", "the fine-tuned render is gray"],
  died: ["died", "gray only in the fine-tuned network"],
  born: ["born", "gray only in the base network"],
  correlation: ["act. r", "correlation of base and fine-tuned activations across held-out images"],
  activation_change: ["act. change", "1 − activation correlation (render-free change)"],
  activation_ratio_base: ["ratio b", "render's activation over the dataset mean, base network (mean over seeds)"],
  activation_ratio_finetuned: ["ratio f", "the same, fine-tuned network"],
  dataset_mean_base: ["mean b", "mean activation on dataset images, base"],
  dataset_mean_finetuned: ["mean f", "mean activation on dataset images, fine-tuned"],
};
// Columns the table shows (the channel view shows them all).
const TABLE_SHOWN = ["channel", "status", "effect_size", "q_value", "p_value", "cosine", "noise_floor",
  "activation_change", "gray_base", "gray_finetuned", "activation_ratio_base", "activation_ratio_finetuned"];

// ---------- sorting: the same rule as vischange.explorer.tables.sort_order
// (missing values last either way, ties by ascending channel)

function sortRows(rows, col, chCol, desc) {
  return rows.slice().sort((a, b) => {
    const va = a[col], vb = b[col];
    const ma = va === null || va === undefined, mb = vb === null || vb === undefined;
    if (ma || mb) return ma && mb ? a[chCol] - b[chCol] : ma ? 1 : -1;
    let c = va < vb ? -1 : va > vb ? 1 : 0;
    if (desc) c = -c;
    return c || a[chCol] - b[chCol];
  });
}

// ---------- views

const views = {};

views.overview = async function (index, main) {
  main.appendChild(el("h2", { text: "Overview" }));
  main.appendChild(el("p", {}, "Renders, change tests, activation atlases and top maps of ", el("b", { text: index.experiment }),
    ": a base network (", index.nets[0], ") against its fine-tuned copy (", index.nets[1] || "", ")."));
  const statuses = [...new Set(index.layers.flatMap((l) => Object.keys(l.status)))].sort();
  const head = el("tr", {}, el("th", { class: "text", text: "layer" }), el("th", { text: "channels" }), el("th", { text: "seeds" }),
    statuses.map((s) => el("th", { text: s })), el("th", { class: "text", text: "" }));
  const body = index.layers.map((l) => el("tr", {},
    el("td", { class: "text" }, el("a", { href: link({ view: "channels", layer: l.index }), text: l.name })),
    el("td", { text: l.channels }), el("td", { text: l.seeds.length }),
    statuses.map((s) => el("td", { text: l.status[s] || 0 })),
    el("td", { class: "text" }, el("a", { href: link({ view: "channels", layer: l.index, sort: "effect_size", desc: 1 }), text: "most changed" }))));
  main.appendChild(el("table", { id: "overview-layers" }, el("thead", {}, head), el("tbody", {}, body)));
  for (const [name, title] of [["layers", "Per layer (compare/layers.csv)"], ["quality", "Render quality (renders/quality.csv)"]]) {
    const t = index.summary[name];
    if (!t) continue;
    main.appendChild(el("h3", { text: title }));
    main.appendChild(plainTable(t));
  }
  main.appendChild(el("p", { class: "muted" }, index.atlases.length + " atlases; ",
    index.topmaps ? "top maps and attribution of both networks." : "no top maps in this run."));
};

function plainTable(t, maxColumns) {
  const cols = t.columns.slice(0, maxColumns || t.columns.length);
  return el("table", { class: "plain" },
    el("thead", {}, el("tr", {}, cols.map((c, j) => el("th", { class: j === 0 ? "text" : null, text: c })))),
    el("tbody", {}, t.rows.map((r) => el("tr", {}, cols.map((c, j) => el("td", { class: typeof r[j] === "string" ? "text" : null, text: fmt(r[j]) }))))));
}

function layerSelect(index, current, onChange) {
  return el("select", { id: "layer-select", onchange: (e) => onChange(e.target.value) },
    index.layers.map((l) => el("option", { value: l.index, selected: String(l.index) === String(current), text: l.name + " (" + l.channels + ")" })));
}

views.channels = async function (index, main, params) {
  const li = Number(params.get("layer") || 0);
  const layer = index.layers[li];
  if (!layer) throw new Error("no layer " + li);
  const data = await load("layer", li, "data/layer-" + li + ".js");
  const C = Object.fromEntries(data.columns.map((c, j) => [c, j]));
  const state = {
    sort: params.get("sort") || "channel",
    desc: params.get("desc") === "1",
    status: params.get("status") || "",
    flag: params.get("flag") || "",
    qmax: params.get("qmax") || "",
    find: params.get("find") || "",
    page: Number(params.get("page") || 1),
    // table: one row per channel with its scores; grid: thumbnails only, as Microscope's layer pages.
    mode: params.get("mode") === "grid" ? "grid" : "",
  };
  if (!(state.sort in C)) state.sort = "channel";
  const go = (changes) => { location.hash = link({ view: "channels", layer: li, ...state, desc: state.desc ? 1 : "", page: 1, ...changes }); };

  let rows = data.rows;
  if (state.status) rows = rows.filter((r) => r[C.status] === state.status);
  if (state.flag === "gray") rows = rows.filter((r) => r[C.gray_base] || r[C.gray_finetuned]);
  if (state.flag === "not_gray") rows = rows.filter((r) => !(r[C.gray_base] || r[C.gray_finetuned]));
  if (state.flag === "died") rows = rows.filter((r) => r[C.died]);
  if (state.flag === "born") rows = rows.filter((r) => r[C.born]);
  if (state.flag === "significant") rows = rows.filter((r) => r[C.significant] === true);
  if (state.qmax !== "" && !isNaN(Number(state.qmax))) rows = rows.filter((r) => r[C.q_value] !== null && r[C.q_value] <= Number(state.qmax));
  if (state.find) rows = rows.filter((r) => String(r[C.channel]).startsWith(state.find.trim()));
  rows = sortRows(rows, C[state.sort], C.channel, state.desc);
  // The channel view's previous/next follow this order.
  VX.lastOrder = { layer: li, channels: rows.map((r) => r[C.channel]) };

  const size = index.page_size;
  const pages = Math.max(1, Math.ceil(rows.length / size));
  const page = Math.min(Math.max(1, state.page), pages);
  const shown = rows.slice((page - 1) * size, page * size);

  const statuses = [...new Set(data.rows.map((r) => r[C.status]))].filter((s) => s !== null).sort();
  main.appendChild(el("h2", {}, "Channels of ", layer.name));
  main.appendChild(el("div", { class: "controls" },
    el("label", {}, "layer ", layerSelect(index, li, (v) => { location.hash = link({ view: "channels", layer: v }); })),
    el("label", {}, "status ", el("select", { id: "filter-status", onchange: (e) => go({ status: e.target.value }) },
      el("option", { value: "", text: "all" }), statuses.map((s) => el("option", { value: s, selected: s === state.status, text: s })))),
    el("label", {}, "flags ", el("select", { id: "filter-flag", onchange: (e) => go({ flag: e.target.value }) },
      [["", "any"], ["significant", "significant"], ["gray", "gray (either net)"], ["not_gray", "not gray"], ["died", "died"], ["born", "born"]]
        .map(([v, t]) => el("option", { value: v, selected: v === state.flag, text: t })))),
    el("label", {}, "q ≤ ", el("input", { id: "filter-q", type: "number", step: "any", min: 0, max: 1, size: 5, value: state.qmax, onchange: (e) => go({ qmax: e.target.value }) })),
    el("label", {}, "channel ", el("input", { id: "filter-find", type: "search", size: 6, value: state.find, onchange: (e) => go({ find: e.target.value }) })),
    el("a", { href: link({ view: "channels", layer: li, sort: "effect_size", desc: 1, mode: state.mode }), text: "sort by change" }),
    el("a", { id: "toggle-mode", href: link({ view: "channels", layer: li, ...state, desc: state.desc ? 1 : "", page: 1, mode: state.mode ? "" : "grid" }),
      text: state.mode ? "show as table" : "show as grid" }),
    el("span", { class: "muted", id: "row-count", text: rows.length + " of " + data.rows.length + " channels" })));

  const pager = () => el("div", { class: "pager" },
    el("a", { class: "prev-page", href: page > 1 ? link({ view: "channels", layer: li, ...state, desc: state.desc ? 1 : "", page: page - 1 }) : null, text: "‹ previous" }),
    el("span", { class: "page-of", text: "page " + page + " of " + pages }),
    el("a", { class: "next-page", href: page < pages ? link({ view: "channels", layer: li, ...state, desc: state.desc ? 1 : "", page: page + 1 }) : null, text: "next ›" }));

  const head = el("tr", {},
    index.nets.map((n) => el("th", { class: "text", text: n })),
    TABLE_SHOWN.filter((c) => c in C).map((c) => {
      const [name, title] = COLUMN_INFO[c] || [c, c];
      const cls = "sortable" + (c === "status" || c === "channel" ? " text" : "") + (state.sort === c ? (state.desc ? " sorted-desc" : " sorted-asc") : "");
      // Change-like measures sort largest first on the first click.
      const firstDesc = ["effect_size", "activation_change", "change_score"].includes(c);
      return el("th", { class: cls, title, dataset: { col: c }, onclick: () => go({ sort: c, desc: state.sort === c ? (state.desc ? "" : 1) : firstDesc ? 1 : "" }) }, name);
    }));
  const body = shown.map((r) => {
    const ch = r[C.channel];
    const href = link({ view: "channel", layer: li, channel: ch });
    return el("tr", { class: "row", dataset: { channel: ch }, onclick: () => { location.hash = href; } },
      index.nets.map((n) => el("td", { class: "thumb" }, el("img", { loading: "lazy", width: 48, height: 48, alt: n + " " + ch, src: "img/thumbs/" + n + "/" + li + "/c" + pad4(ch) + ".jpg" }))),
      TABLE_SHOWN.filter((c) => c in C).map((c) => c === "channel"
        ? el("td", { class: "text" }, el("a", { href, text: ch }))
        : el("td", { class: (c === "status" ? "text status-" + r[C[c]] : null), text: fmt(r[C[c]]) })));
  });
  main.appendChild(pager());
  if (state.mode === "grid") {
    main.appendChild(el("div", { id: "channel-grid", class: "grid" }, shown.map((r) => {
      const ch = r[C.channel];
      return el("a", { class: "tile", href: link({ view: "channel", layer: li, channel: ch }), dataset: { channel: ch },
        title: "change " + fmt(r[C.effect_size]) + ", q " + fmt(r[C.q_value]) },
        el("div", { class: "pair" }, index.nets.map((n) => el("img", { loading: "lazy", width: 64, height: 64, alt: n + " " + ch,
          src: "img/thumbs/" + n + "/" + li + "/c" + pad4(ch) + ".jpg" }))),
        el("span", { class: "status-" + r[C.status], text: ch + " · " + fmt(r[C.status]) }));
    })));
  } else {
    main.appendChild(el("table", { id: "channel-table" }, el("thead", {}, head), el("tbody", {}, body)));
  }
  main.appendChild(pager());
};

views.channel = async function (index, main, params) {
  const li = Number(params.get("layer") || 0);
  const layer = index.layers[li];
  if (!layer) throw new Error("no layer " + li);
  const ch = Number(params.get("channel"));
  const [data, examples] = await Promise.all([load("layer", li, "data/layer-" + li + ".js"), load("examples", li, "data/examples-" + li + ".js")]);
  const C = Object.fromEntries(data.columns.map((c, j) => [c, j]));
  const pos = data.rows.findIndex((r) => r[C.channel] === ch);
  if (pos < 0) {
    main.appendChild(el("p", {}, "Channel " + ch + " of " + layer.name + " was not rendered. ", el("a", { href: link({ view: "channels", layer: li }), text: "All channels" })));
    return;
  }
  const row = data.rows[pos];
  // Previous and next in the table's last order when it was this layer's, else by channel.
  const order = VX.lastOrder && VX.lastOrder.layer === li && VX.lastOrder.channels.includes(ch) ? VX.lastOrder.channels : data.rows.map((r) => r[C.channel]);
  const at = order.indexOf(ch);
  const prev = at > 0 ? order[at - 1] : null, next = at < order.length - 1 ? order[at + 1] : null;
  const self = link({ view: "channel", layer: li, channel: ch });
  main.appendChild(el("div", { class: "channel-nav" },
    el("h2", {}, layer.name + " · channel " + ch),
    el("a", { id: "prev-channel", href: prev !== null ? link({ view: "channel", layer: li, channel: prev }) : null, text: "‹ previous" }),
    el("a", { id: "next-channel", href: next !== null ? link({ view: "channel", layer: li, channel: next }) : null, text: "next ›" }),
    el("a", { id: "permalink", href: self, text: "link to this channel" }),
    el("a", { href: link({ view: "channels", layer: li }), text: "all channels of " + layer.name })));
  const status = row[C.status];
  main.appendChild(el("p", {}, "Status ", el("b", { class: "status-" + status, text: fmt(status) }),
    ", change (effect size) ", el("b", { text: fmt(row[C.effect_size]) }), ", q ", el("b", { text: fmt(row[C.q_value]) }),
    ", activation change ", el("b", { text: fmt(row[C.activation_change]) }), "."));
  const shots = el("div", { id: "channel-images" });
  for (const net of index.nets) {
    const ex = (examples[net] || {})[String(ch)] || [];
    shots.appendChild(el("div", { class: "net-row", dataset: { net } },
      el("div", { class: "net-name", text: net }),
      layer.seeds.map((s) => el("figure", {},
        el("img", { class: "render", alt: net + " seed " + s, src: "img/renders/" + net + "/" + li + "/c" + pad4(ch) + "_s" + s + ".png" }),
        el("figcaption", { text: "seed " + s }))),
      el("figure", {},
        el("img", { class: "strip", alt: net + " dataset examples", src: "img/examples/" + net + "/" + li + "/c" + pad4(ch) + ".png" }),
        el("figcaption", { text: "top dataset examples (images over the crops around the peak)" }),
        el("ol", { class: "examples" }, ex.map(([cls, act], k) => el("li", { text: (k + 1) + ". " + cls + " (" + fmt(act) + ")" }))))));
  }
  main.appendChild(shots);
  main.appendChild(el("h3", { text: "Scores" }));
  main.appendChild(el("table", { class: "scores", id: "channel-scores" }, el("tbody", {},
    data.columns.map((c, j) => el("tr", {}, el("td", { title: (COLUMN_INFO[c] || [c, c])[1], text: c }), el("td", { text: fmt(row[j]) }))))));
};

// ---------- atlas viewer: pan (drag) and zoom (wheel, buttons) by a CSS transform

function panZoom(viewport, stage, onChange) {
  const t = { s: 1, x: 0, y: 0 };
  const apply = () => {
    stage.style.transform = "translate(" + t.x + "px," + t.y + "px) scale(" + t.s + ")";
    viewport.dataset.scale = t.s.toFixed(3);
    if (onChange) onChange(t);
  };
  const zoomAt = (factor, cx, cy) => {
    const s = Math.min(32, Math.max(1, t.s * factor));
    // Keep the point under (cx, cy) in place.
    t.x = cx - ((cx - t.x) * s) / t.s;
    t.y = cy - ((cy - t.y) * s) / t.s;
    t.s = s;
    clamp();
    apply();
  };
  const clamp = () => {
    const w = viewport.clientWidth, h = viewport.clientHeight;
    t.x = Math.min(0, Math.max(w - w * t.s, t.x));
    t.y = Math.min(0, Math.max(h - h * t.s, t.y));
  };
  viewport.addEventListener("wheel", (e) => {
    e.preventDefault();
    const r = viewport.getBoundingClientRect();
    zoomAt(e.deltaY < 0 ? 1.25 : 0.8, e.clientX - r.left, e.clientY - r.top);
  }, { passive: false });
  let drag = null;
  viewport.addEventListener("pointerdown", (e) => { drag = { x: e.clientX, y: e.clientY, tx: t.x, ty: t.y, moved: false }; viewport.classList.add("dragging"); });
  window.addEventListener("pointermove", (e) => {
    if (!drag) return;
    if (Math.abs(e.clientX - drag.x) + Math.abs(e.clientY - drag.y) > 3) drag.moved = true;
    t.x = drag.tx + e.clientX - drag.x;
    t.y = drag.ty + e.clientY - drag.y;
    clamp();
    apply();
  });
  window.addEventListener("pointerup", () => { if (drag) { viewport.dataset.dragged = drag.moved ? "1" : "0"; } drag = null; viewport.classList.remove("dragging"); });
  apply();
  return {
    zoomIn: () => zoomAt(1.5, viewport.clientWidth / 2, viewport.clientHeight / 2),
    zoomOut: () => zoomAt(1 / 1.5, viewport.clientWidth / 2, viewport.clientHeight / 2),
    reset: () => { t.s = 1; t.x = 0; t.y = 0; apply(); },
  };
}

views.atlases = async function (index, main, params) {
  if (!index.atlases.length) {
    main.appendChild(el("p", { text: "This run has no atlases (atlas.layers is empty)." }));
    return;
  }
  const k = Number(params.get("atlas") || 0);
  const meta = index.atlases[k] || index.atlases[0];
  const data = await load("atlas", meta.index, "data/atlas-" + meta.index + ".js");
  const net = meta.shown.includes(params.get("net")) ? params.get("net") : meta.shown[0];
  const list = el("div", { class: "atlas-list", id: "atlas-list" });
  let lastLayer = null;
  for (const a of index.atlases) {
    if (a.layer !== lastLayer) { list.appendChild(el("h3", { text: a.layer })); lastLayer = a.layer; }
    list.appendChild(el("a", { href: link({ view: "atlases", atlas: a.index }), class: a.index === meta.index ? "active" : null, text: a.title }));
  }
  const C = Object.fromEntries(data.columns.map((c, j) => [c, j]));
  const n = data.n;
  const cellAt = (r, c) => data.rows[r * n + c];
  const src = "img/atlas/" + meta.index + "/" + net + ".png";
  const img = el("img", { id: "atlas-image", src, alt: meta.title, draggable: "false" });
  const box = el("div", { class: "cell-box" });
  const stage = el("div", { class: "stage" }, img, box);
  const viewport = el("div", { class: "viewport", id: "atlas-viewport" }, stage);
  const info = el("div", { class: "cell-info", id: "cell-info" }, el("p", { class: "muted", text: "Hover over or click a cell." }));
  let pinned = null;
  const side = 640 / n;
  const showCell = (r, c, pin) => {
    const row = cellAt(r, c);
    if (!row) return;
    Object.assign(box.style, { display: "block", left: c * side + "px", top: r * side + "px", width: side + "px", height: side + "px" });
    box.classList.toggle("pinned", !!pin);
    info.replaceChildren(el("h3", { text: "cell " + r + ", " + c }));
    const nets = meta.net === "compare" ? meta.shown : [null];
    for (const m of nets) {
      const col = (name) => C[m ? name + "_" + m : name];
      const get = (name) => (col(name) === undefined ? undefined : row[col(name)]);
      const icon = el("div", { class: "icon", title: (m || meta.net) + " icon" });
      icon.style.backgroundImage = "url(img/atlas/" + meta.index + "/" + (m || net) + ".png)";
      icon.style.backgroundSize = n * 128 + "px " + n * 128 + "px";
      icon.style.backgroundPosition = -c * 128 + "px " + -r * 128 + "px";
      info.appendChild(el("div", { class: "cell-net" }, m ? el("b", { text: m }) : null,
        get("filled") ? icon : el("p", { class: "muted", text: "empty cell (too few samples for an icon)" }),
        el("table", { class: "scores" }, el("tbody", {},
          [["samples", get("count")], ["top class", get("top_class")], ["label", get("label")], ["label share", get("label_share")],
           ["attribution difference", get("attribution_difference")]]
            .filter(([, v]) => v !== undefined).map(([k2, v]) => el("tr", {}, el("td", { text: k2 }), el("td", { class: "text", text: fmt(v) }))))),
        get("top_classes") !== undefined ? el("p", {}, el("span", { class: "muted", text: "top classes: " }), fmt(get("top_classes"))) : null));
    }
    if (C.moved_distance !== undefined) info.appendChild(el("p", { class: "muted", text: "moved: distance " + fmt(row[C.moved_distance]) + ", cosine " + fmt(row[C.moved_cosine]) }));
    info.dataset.cell = r + "," + c;
  };
  const cellFromEvent = (e) => {
    const r = img.getBoundingClientRect();
    const c = Math.floor(((e.clientX - r.left) / r.width) * n), rr = Math.floor(((e.clientY - r.top) / r.height) * n);
    return c >= 0 && c < n && rr >= 0 && rr < n ? [rr, c] : null;
  };
  viewport.addEventListener("mousemove", (e) => { if (pinned) return; const at = cellFromEvent(e); if (at) showCell(at[0], at[1], false); });
  viewport.addEventListener("click", (e) => {
    if (viewport.dataset.dragged === "1") return;
    const at = cellFromEvent(e);
    if (!at) return;
    pinned = pinned && pinned[0] === at[0] && pinned[1] === at[1] ? null : at;
    showCell(at[0], at[1], !!pinned);
  });
  const pz = panZoom(viewport, stage);
  main.appendChild(el("h2", {}, "Atlas: " + meta.title));
  main.appendChild(el("div", { class: "controls" },
    el("span", { class: "zoom-buttons" },
      el("button", { id: "zoom-in", onclick: pz.zoomIn, text: "+" }), el("button", { id: "zoom-out", onclick: pz.zoomOut, text: "−" }),
      el("button", { id: "zoom-reset", onclick: pz.reset, text: "reset" })),
    meta.shown.length > 1 ? el("span", { class: "tabs" }, meta.shown.map((m) => el("a", { class: m === net ? "active" : null, href: link({ view: "atlases", atlas: meta.index, net: m }), text: m + " icons" }))) : null,
    el("span", { class: "muted", text: n + " × " + n + " cells; scroll to zoom, drag to pan, click a cell to pin it" })));
  main.appendChild(el("div", { class: "atlas-layout" }, list, viewport, info));
  // Ready once the icon grid has loaded (or failed: the console then says why).
  return new Promise((done) => { img.addEventListener("load", done); img.addEventListener("error", done); });
};

views.topmaps = async function (index, main, params) {
  if (!index.topmaps) {
    main.appendChild(el("p", { text: "This run has no top maps." }));
    return;
  }
  const data = await load("topmaps", 0, "data/topmaps.js");
  const nets = Object.keys(data.nets);
  const net = nets.includes(params.get("net")) ? params.get("net") : nets[0];
  const d = data.nets[net];
  main.appendChild(el("h2", {}, "Top maps of " + data.layer + " and attribution"));
  main.appendChild(el("div", { class: "tabs controls" }, nets.map((m) => el("a", { class: m === net ? "active" : null, href: link({ view: "topmaps", net: m }), text: m + " network" }))));
  main.appendChild(el("p", { class: "muted", text: "Per class: the feature maps most often among its images' most active maps, kept when unique to the class; renders where the run drew them." }));
  const classes = el("div", { id: "topmap-classes" });
  for (const cls of d.classes) {
    classes.appendChild(el("div", { class: "class-block", dataset: { label: cls.label } },
      el("h3", { text: cls.class + " (" + cls.maps.length + " maps)" }),
      el("table", {}, el("thead", {}, el("tr", {}, ["rank", "map", "count", "frequency", "mean activation", "renders"].map((h) => el("th", { text: h })))),
        el("tbody", {}, cls.maps.map((m) => el("tr", {},
          el("td", { text: m.rank }),
          el("td", {}, m.channel_view ? el("a", { href: link({ view: "channel", layer: data.layer_index, channel: m.map }), text: m.map }) : String(m.map)),
          el("td", { text: m.count }), el("td", { text: fmt(m.frequency) }), el("td", { text: fmt(m.mean_activation) }),
          el("td", { class: "map-renders" }, m.renders.map((p) => el("img", { loading: "lazy", src: p.file, alt: "map " + m.map + " " + p.method, title: p.method })))))))));
  }
  main.appendChild(classes);
  if (d.detector) {
    main.appendChild(el("h3", { text: "Detector: summed top-map activation against the classifier (test split)" }));
    main.appendChild(el("div", { id: "detector-table" }, plainTable(d.detector)));
  }
  main.appendChild(el("div", { class: "figures" }, d.figures.map((f) => el("figure", {},
    el("h3", { text: f.title }), el("img", { loading: "lazy", src: f.file, alt: f.title })))));
};

// ---------- router

async function route() {
  document.body.dataset.ready = "0";
  const params = hashParams();
  const name = params.get("view") || "overview";
  const main = document.getElementById("main");
  try {
    const index = await load("index", 0, "data/index.js");
    document.getElementById("experiment").textContent = index.experiment;
    for (const a of document.querySelectorAll("header nav a")) a.classList.toggle("active", a.dataset.view === name || (name === "channel" && a.dataset.view === "channels"));
    const view = views[name];
    if (!view) throw new Error("unknown view " + name);
    const fresh = el("main", { id: "main" });
    const later = await view(index, fresh, params);
    main.replaceWith(fresh);
    if (name !== "channels") window.scrollTo(0, 0);
    if (later) await later;
    setReady(name);
  } catch (err) {
    showError(String(err.message || err));
    console.error(err);
    setReady("error");
  }
}

// Left and right arrows step through channels in a channel's view.
window.addEventListener("keydown", (e) => {
  if (e.target.closest && e.target.closest("input, select, textarea")) return;
  const id = { ArrowLeft: "prev-channel", ArrowRight: "next-channel" }[e.key];
  const a = id && document.getElementById(id);
  if (a && a.getAttribute("href")) location.hash = a.getAttribute("href");
});
window.addEventListener("hashchange", route);
route();
