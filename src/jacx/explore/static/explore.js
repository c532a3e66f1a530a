/* jacx explorer page. Draws what the server computed; it evaluates nothing the user types.
   Text from the server or the user only ever goes into the page through textContent. */
'use strict';
(function () {
  const token = new URLSearchParams(location.search).get('token') || '';
  const $ = (id) => document.getElementById(id);
  const SVGNS = 'http://www.w3.org/2000/svg';
  const COL = { rows: '#2c6fbb', cols: '#c0392b', fold: '#8b0000', point: '#111', trueShape: '#0b7a3b',
    linear: '#6a1b9a', kept: [70, 130, 220], reversed: [240, 140, 40] };
  const state = {
    presets: [], python: null, map: null, view: [-2, 2, -2, 2], cells: 24, h: 0.25, a: [0, 0],
    grid: null, point: null, inflight: false, pending: null, timings: [], gridVersion: 0, pointVersion: 0,
    background: null, imageTf: null, paths: null, dragging: false,
  };
  window.jacxTimings = state.timings;

  // ---------------------------------------------------------------- server
  async function api(path, body) {
    const response = await fetch('/api/' + path, {
      method: 'POST', cache: 'no-store', credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json', 'X-Jacx-Token': token },
      body: JSON.stringify(body),
    });
    let data = null;
    try { data = await response.json(); } catch (e) { data = null; }
    if (!response.ok) {
      throw new Error((data && data.error) || ('the server answered with status ' + response.status));
    }
    return data;
  }
  function say(text) {
    $('message').textContent = text || '';
    document.body.dataset.error = text ? text : '';
  }

  // ---------------------------------------------------------------- numbers
  function fmt(v, digits) {
    if (v === null || v === undefined) return 'not finite';
    if (v === 0) return '0';
    const a = Math.abs(v);
    if (a >= 1e-4 && a < 1e6) return String(Number(v.toPrecision(digits || 6)));
    return v.toExponential((digits || 6) - 1);
  }
  function setNum(id, v) {
    const el = $(id);
    el.textContent = fmt(v);
    el.dataset.value = v === null || v === undefined ? 'null' : String(v);
  }

  // ---------------------------------------------------------------- transforms
  function fitTransform(canvas, box, pad) {
    const W = canvas.width, H = canvas.height;
    let [x0, x1, y0, y1] = box;
    if (!(x1 > x0)) { x0 -= 1; x1 += 1; }
    if (!(y1 > y0)) { y0 -= 1; y1 += 1; }
    const p = pad || 0;
    const s = Math.min((W - 2 * p) / (x1 - x0), (H - 2 * p) / (y1 - y0));
    const ox = (W - s * (x1 - x0)) / 2, oy = (H - s * (y1 - y0)) / 2;
    return { s, ox, oy, x0, y0, H,
      px: (x) => ox + s * (x - x0), py: (y) => H - oy - s * (y - y0),
      inv: (u, v) => [x0 + (u - ox) / s, y0 + (H - oy - v) / s] };
  }
  function bbox(arrays, init) {
    let b = init ? init.slice() : [Infinity, -Infinity, Infinity, -Infinity];
    for (const arr of arrays) {
      for (let i = 0; i + 1 < arr.length; i += 2) {
        const x = arr[i], y = arr[i + 1];
        if (x === null || y === null) continue;
        if (x < b[0]) b[0] = x; if (x > b[1]) b[1] = x;
        if (y < b[2]) b[2] = y; if (y > b[3]) b[3] = y;
      }
    }
    if (!isFinite(b[0])) b = [-1, 1, -1, 1];
    const dx = (b[1] - b[0]) * 0.04 || 1, dy = (b[3] - b[2]) * 0.04 || 1;
    return [b[0] - dx, b[1] + dx, b[2] - dy, b[3] + dy];
  }
  const flat = (pts) => { const out = []; for (const p of pts) out.push(p[0], p[1]); return out; };

  // ---------------------------------------------------------------- drawing helpers
  function pathOf(xy, tf, closed) {
    const path = new Path2D();
    let pen = false;
    for (let i = 0; i + 1 < xy.length; i += 2) {
      const x = xy[i], y = xy[i + 1];
      if (x === null || y === null || !isFinite(x) || !isFinite(y)) { pen = false; continue; }
      const u = tf.px(x), v = tf.py(y);
      if (Math.abs(u) > 1e5 || Math.abs(v) > 1e5) { pen = false; continue; }
      if (pen) path.lineTo(u, v); else path.moveTo(u, v);
      pen = true;
    }
    if (closed && pen) path.closePath();
    return path;
  }
  function stroke(ctx, path, color, width, dash) {
    ctx.save();
    ctx.strokeStyle = color; ctx.lineWidth = width || 1; ctx.setLineDash(dash || []);
    ctx.stroke(path);
    ctx.restore();
  }
  function dot(ctx, u, v, r, color) {
    ctx.beginPath(); ctx.arc(u, v, r, 0, 2 * Math.PI); ctx.fillStyle = color; ctx.fill();
  }
  function rampColor(t) {  // dark blue -> teal -> light yellow
    const stops = [[38, 52, 110], [33, 120, 142], [80, 180, 120], [245, 230, 120]];
    const x = Math.max(0, Math.min(1, t)) * (stops.length - 1), i = Math.min(stops.length - 2, Math.floor(x));
    const f = x - i;
    return stops[i].map((c, k) => Math.round(c + f * (stops[i + 1][k] - c)));
  }

  // ---------------------------------------------------------------- the grid (after each map or view change)
  function prepareGrid() {
    const g = state.grid, dom = $('domain'), img = $('image');
    const tf = fitTransform(dom, g.view, 0);
    state.domainTf = tf;
    dom.dataset.transform = JSON.stringify([tf.s, tf.ox, tf.oy, tf.x0, tf.y0, tf.H]);
    // background raster: orientation (two outputs) or values (one output)
    const n = g.raster_size, off = document.createElement('canvas');
    off.width = n; off.height = n;
    const octx = off.getContext('2d'), im = octx.createImageData(n, n);
    const lo = g.range ? g.range[0] : 0, hi = g.range ? g.range[1] : 1;
    for (let j = 0; j < n; j++) {
      for (let i = 0; i < n; i++) {
        const v = g.raster[j * n + i], k = 4 * ((n - 1 - j) * n + i);
        if (v === null) { im.data[k + 3] = 0; continue; }
        let c, alpha = 255;
        if (g.outputs === 2) { c = v > 0 ? COL.kept : v < 0 ? COL.reversed : [255, 255, 255]; alpha = 70; }
        else c = rampColor(hi > lo ? (v - lo) / (hi - lo) : 0.5);
        im.data[k] = c[0]; im.data[k + 1] = c[1]; im.data[k + 2] = c[2]; im.data[k + 3] = alpha;
      }
    }
    octx.putImageData(im, 0, 0);
    state.background = off;
    const paths = { rows: [], cols: [], fold: [], foldImage: [], levels: [], surface: [] };
    if (g.outputs === 2) {
      const box = bbox(g.rows.concat(g.cols));
      const itf = fitTransform(img, box, 6);
      state.imageTf = itf;
      img.dataset.transform = JSON.stringify([itf.s, itf.ox, itf.oy, itf.x0, itf.y0, itf.H]);
      for (const r of g.rows) paths.rows.push(pathOf(r, itf));
      for (const c of g.cols) paths.cols.push(pathOf(c, itf));
      for (const f of g.fold) paths.fold.push(pathOf(f, tf));
      for (const f of g.fold_image) paths.foldImage.push(pathOf(f, itf));
    } else {
      for (const level of g.levels) for (const line of level.lines) paths.levels.push(pathOf(line, tf));
      prepareSurface(paths);
    }
    state.paths = paths;
  }

  // one output: a wireframe of the surface z = f(x, y), seen from above and in front
  function project3(x, y, z) {
    const g = state.grid, [x0, x1, y0, y1] = g.view, r = g.range || [0, 1];
    const X = 2 * (x - x0) / (x1 - x0) - 1, Y = 2 * (y - y0) / (y1 - y0) - 1;
    const Z = r[1] > r[0] ? 1.4 * (z - r[0]) / (r[1] - r[0]) - 0.7 : 0;
    const az = -0.65, el = 0.55;
    const u = Math.cos(az) * X - Math.sin(az) * Y, w = Math.sin(az) * X + Math.cos(az) * Y;
    return [u, Z * Math.cos(el) + w * Math.sin(el)];
  }
  function surfacePoints(xy, z) {  // xy: flat (x, y) pairs; z: values
    const out = [];
    for (let i = 0; i < z.length; i++) {
      const x = xy[2 * i], y = xy[2 * i + 1], v = z[i];
      if (x === null || y === null || v === null) { out.push(null, null); continue; }
      const p = project3(x, y, v); out.push(p[0], p[1]);
    }
    return out;
  }
  function prepareSurface(paths) {
    const g = state.grid, [x0, x1, y0, y1] = g.view, n = g.cells, s = g.samples, img = $('image');
    const itf = fitTransform(img, [-1.45, 1.45, -1.3, 1.3], 4);
    state.imageTf = itf;
    img.dataset.transform = JSON.stringify([itf.s, itf.ox, itf.oy, itf.x0, itf.y0, itf.H]);
    for (let j = 0; j <= n; j++) {
      const xyRow = [], xyCol = [];
      for (let k = 0; k < s; k++) {
        xyRow.push(x0 + (x1 - x0) * k / (s - 1), y0 + (y1 - y0) * j / n);
        xyCol.push(x0 + (x1 - x0) * j / n, y0 + (y1 - y0) * k / (s - 1));
      }
      paths.rows.push(pathOf(surfacePoints(xyRow, g.rows[j]), itf));
      paths.cols.push(pathOf(surfacePoints(xyCol, g.cols[j]), itf));
    }
  }

  // ---------------------------------------------------------------- full redraw
  function drawDomain() {
    const c = $('domain'), ctx = c.getContext('2d'), g = state.grid, tf = state.domainTf, P = state.paths;
    ctx.clearRect(0, 0, c.width, c.height);
    if (!g) return;
    const [x0, x1, y0, y1] = g.view;
    ctx.imageSmoothingEnabled = g.outputs === 1;
    ctx.drawImage(state.background, tf.px(x0), tf.py(y1), tf.s * (x1 - x0), tf.s * (y1 - y0));
    ctx.save(); ctx.strokeStyle = 'rgba(0,0,0,0.22)'; ctx.lineWidth = 1; ctx.beginPath();
    for (let j = 0; j <= g.cells; j++) {
      const x = x0 + (x1 - x0) * j / g.cells, y = y0 + (y1 - y0) * j / g.cells;
      ctx.moveTo(tf.px(x), tf.py(y0)); ctx.lineTo(tf.px(x), tf.py(y1));
      ctx.moveTo(tf.px(x0), tf.py(y)); ctx.lineTo(tf.px(x1), tf.py(y));
    }
    ctx.stroke(); ctx.restore();
    if (g.outputs === 2) for (const f of P.fold) stroke(ctx, f, COL.fold, 3);
    else {
      for (const l of P.levels) stroke(ctx, l, 'rgba(255,255,255,0.75)', 1);
      drawArrows(ctx, tf);
    }
    const p = state.point;
    if (!p) return;
    const sq = pathOf(flat(p.square.domain), tf, true), ci = pathOf(flat(p.circle.domain), tf, true);
    stroke(ctx, sq, COL.trueShape, 2); stroke(ctx, ci, COL.linear, 2);
    dot(ctx, tf.px(p.a[0]), tf.py(p.a[1]), 4.5, COL.point);
  }
  function drawArrows(ctx, tf) {
    const g = state.grid, at = g.arrow_at, gr = g.arrow_grad;
    let big = 0;
    for (let i = 0; i + 1 < gr.length; i += 2) if (gr[i] !== null && gr[i + 1] !== null) big = Math.max(big, Math.hypot(gr[i], gr[i + 1]));
    if (!(big > 0)) return;
    const len = 0.8 * tf.s * (g.view[1] - g.view[0]) / 14 / big;
    ctx.save(); ctx.strokeStyle = '#fff'; ctx.fillStyle = '#fff'; ctx.lineWidth = 1.4;
    for (let i = 0; i + 1 < at.length; i += 2) {
      if (gr[i] === null || gr[i + 1] === null) continue;
      const u = tf.px(at[i]), v = tf.py(at[i + 1]), du = gr[i] * len, dv = -gr[i + 1] * len;
      ctx.beginPath(); ctx.moveTo(u, v); ctx.lineTo(u + du, v + dv); ctx.stroke();
      const a = Math.atan2(dv, du), hl = Math.min(5, Math.hypot(du, dv) / 2);
      ctx.beginPath(); ctx.moveTo(u + du, v + dv);
      ctx.lineTo(u + du - hl * Math.cos(a - 0.45), v + dv - hl * Math.sin(a - 0.45));
      ctx.lineTo(u + du - hl * Math.cos(a + 0.45), v + dv - hl * Math.sin(a + 0.45)); ctx.fill();
    }
    ctx.restore();
  }
  function drawImage() {
    const c = $('image'), ctx = c.getContext('2d'), g = state.grid, P = state.paths, tf = state.imageTf;
    ctx.clearRect(0, 0, c.width, c.height);
    if (!g) return;
    for (const r of P.rows) stroke(ctx, r, COL.rows, 0.8);
    for (const k of P.cols) stroke(ctx, k, COL.cols, 0.8);
    for (const f of P.foldImage) stroke(ctx, f, COL.fold, 3);
    const p = state.point;
    if (!p) return;
    if (g.outputs === 2) {
      stroke(ctx, pathOf(flat(p.square.linear), tf, true), COL.trueShape, 1.5, [5, 3]);
      stroke(ctx, pathOf(flat(p.circle.linear), tf, true), COL.linear, 1.5, [5, 3]);
      stroke(ctx, pathOf(flat(p.square.true), tf, true), COL.trueShape, 2);
      stroke(ctx, pathOf(flat(p.circle.true), tf, true), COL.linear, 2);
      dot(ctx, tf.px(p.F[0]), tf.py(p.F[1]), 4.5, COL.point);
    } else {
      const lift = (xy, z) => pathOf(surfacePoints(flat(xy), z.map((v) => v[0])), tf, true);
      ctx.save(); ctx.fillStyle = 'rgba(106,27,154,0.25)'; ctx.fill(lift(p.square.domain, p.square.linear)); ctx.restore();
      stroke(ctx, lift(p.square.domain, p.square.linear), COL.linear, 2, [5, 3]);
      stroke(ctx, lift(p.square.domain, p.square.true), COL.trueShape, 2);
      const q = project3(p.a[0], p.a[1], p.F[0]);
      dot(ctx, tf.px(q[0]), tf.py(q[1]), 4.5, COL.point);
    }
  }
  function drawCloseup() {
    const c = $('closeup'), ctx = c.getContext('2d'), p = state.point;
    ctx.clearRect(0, 0, c.width, c.height);
    if (!p) return;
    if (p.outputs === 2) {
      const sets = [flat(p.circle.true), flat(p.circle.linear), flat(p.square.true), flat(p.square.linear)];
      let r = 0;
      for (const s of sets) for (let i = 0; i + 1 < s.length; i += 2) {
        if (s[i] !== null && s[i + 1] !== null) r = Math.max(r, Math.abs(s[i] - p.F[0]), Math.abs(s[i + 1] - p.F[1]));
      }
      r = (r || p.h) * 1.08;
      const tf = fitTransform(c, [p.F[0] - r, p.F[0] + r, p.F[1] - r, p.F[1] + r], 4);
      ctx.save(); ctx.strokeStyle = '#ccc'; ctx.beginPath();
      ctx.moveTo(0, tf.py(p.F[1])); ctx.lineTo(c.width, tf.py(p.F[1]));
      ctx.moveTo(tf.px(p.F[0]), 0); ctx.lineTo(tf.px(p.F[0]), c.height); ctx.stroke(); ctx.restore();
      ctx.save(); ctx.fillStyle = 'rgba(11,122,59,0.12)'; ctx.fill(pathOf(sets[2], tf, true)); ctx.restore();
      stroke(ctx, pathOf(sets[3], tf, true), COL.trueShape, 1.6, [6, 4]);
      stroke(ctx, pathOf(sets[2], tf, true), COL.trueShape, 2);
      stroke(ctx, pathOf(sets[1], tf, true), COL.linear, 1.6, [6, 4]);
      stroke(ctx, pathOf(sets[0], tf, true), COL.linear, 2);
      dot(ctx, tf.px(p.F[0]), tf.py(p.F[1]), 3.5, COL.point);
    } else {
      const s = p.slice, t = s.t, xs = [], ys = [], yl = [];
      for (let i = 0; i < t.length; i++) { xs.push(t[i], s.true[i]); yl.push(t[i], s.linear[i]); ys.push(s.true[i], s.linear[i]); }
      const fin = ys.filter((v) => v !== null);
      const lo = Math.min(...fin), hi = Math.max(...fin), pad = (hi - lo) * 0.08 || p.h;
      // t and f have different units: scale each axis on its own
      const sx = (c.width - 8) / (t[t.length - 1] - t[0]), sy = (c.height - 8) / (hi - lo + 2 * pad);
      const tf2 = { px: (x) => 4 + sx * (x - t[0]), py: (y) => c.height - 4 - sy * (y - lo + pad) };
      stroke(ctx, pathOf(yl, tf2), COL.linear, 1.6, [6, 4]);
      stroke(ctx, pathOf(xs, tf2), COL.trueShape, 2);
      dot(ctx, tf2.px(0), tf2.py(p.F[0]), 3.5, COL.point);
    }
  }

  // ---------------------------------------------------------------- SVG plots
  function el(name, attrs, parent) {
    const e = document.createElementNS(SVGNS, name);
    for (const k in attrs) e.setAttribute(k, String(attrs[k]));
    if (parent) parent.appendChild(e);
    return e;
  }
  function text(parent, x, y, s, anchor) {
    const t = el('text', { x, y, 'text-anchor': anchor || 'middle' }, parent); t.textContent = s; return t;
  }
  function plot(svg, opts) {
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    const W = 380, H = 250, L = 52, R = 12, T = 12, B = 38;
    const [xa, xb] = opts.x, [ya, yb] = opts.y;
    const X = (v) => L + (W - L - R) * (v - xa) / (xb - xa), Y = (v) => H - B - (H - T - B) * (v - ya) / (yb - ya);
    el('rect', { x: L, y: T, width: W - L - R, height: H - T - B, fill: 'none', stroke: '#999' }, svg);
    for (const tick of opts.xticks) { el('line', { x1: X(tick[0]), x2: X(tick[0]), y1: H - B, y2: H - B + 4, stroke: '#333' }, svg); text(svg, X(tick[0]), H - B + 16, tick[1]); }
    for (const tick of opts.yticks) { el('line', { x1: L - 4, x2: L, y1: Y(tick[0]), y2: Y(tick[0]), stroke: '#333' }, svg); text(svg, L - 6, Y(tick[0]) + 4, tick[1], 'end'); }
    text(svg, L + (W - L - R) / 2, H - 6, opts.xlabel);
    const yl = text(svg, 12, T + (H - T - B) / 2, opts.ylabel); yl.setAttribute('transform', `rotate(-90 12 ${T + (H - T - B) / 2})`);
    const clip = (v, a, b) => Math.max(Math.min(v, Math.max(a, b)), Math.min(a, b));
    for (const line of opts.lines) {
      const pts = [];
      for (const [x, y] of line.points) if (y !== null && isFinite(y)) pts.push(`${X(x).toFixed(2)},${clip(Y(y), T, H - B).toFixed(2)}`);
      const attrs = { points: pts.join(' '), fill: 'none', stroke: line.color, 'stroke-width': line.width || 2 };
      if (line.dash) attrs['stroke-dasharray'] = line.dash;
      if (line.id) attrs.id = line.id;
      el('polyline', attrs, svg);
    }
    for (const m of opts.markers) {
      if (m.y === null || !isFinite(m.y)) continue;
      const c = el('circle', { cx: X(m.x), cy: clip(Y(m.y), T, H - B), r: 5, fill: m.color, id: m.id }, svg);
      c.dataset.h = String(m.h); c.dataset.value = String(m.value);
    }
  }
  const log10 = (v) => Math.log(v) / Math.LN10;
  function decadeTicks(a, b) {
    const out = [];
    for (let k = Math.ceil(a); k <= Math.floor(b); k++) out.push([k, k === 0 ? '1' : '1e' + k]);
    return out;
  }
  function drawPlots() {
    const p = state.point;
    if (!p) return;
    const hs = p.error.h, es = p.error.error, lh = hs.map(log10);
    const fin = es.filter((v) => v !== null && v > 0).map(log10);
    const eh = p.error.at_h;
    if (eh !== null && eh > 0) fin.push(log10(eh));
    let lo = Math.min(...fin), hi = Math.max(...fin);
    if (!isFinite(lo)) { lo = -16; hi = 0; }
    if (hi - lo < 2) { lo -= 1; hi += 1; }
    const pts = hs.map((h, i) => [log10(h), es[i] !== null && es[i] > 0 ? log10(es[i]) : null]);
    const lines = [{ points: pts, color: COL.trueShape, id: 'error-line' }];
    if (eh !== null && eh > 0 && p.error.slope !== null) {
      const x = log10(p.h), y = log10(eh);
      lines.push({ points: [[lh[0], y + 2 * (lh[0] - x)], [lh[lh.length - 1], y + 2 * (lh[lh.length - 1] - x)]], color: '#555', dash: '5 4', width: 1.2, id: 'slope-line' });
    }
    const svg = $('error-plot');
    plot(svg, { x: [lh[0], lh[lh.length - 1]], y: [lo - 0.3, hi + 0.3], xticks: decadeTicks(lh[0], lh[lh.length - 1]),
      yticks: decadeTicks(lo - 0.3, hi + 0.3).filter((t, i, all) => all.length < 9 || t[0] % 2 === 0),
      xlabel: 'h (log scale)', ylabel: 'max error on the circle', lines,
      markers: [{ x: log10(p.h), y: eh !== null && eh > 0 ? log10(eh) : null, color: COL.linear, id: 'error-marker', h: p.h, value: eh }] });
    svg.dataset.points = String(pts.filter((q) => q[1] !== null).length);
    svg.dataset.slope = p.error.slope === null ? 'null' : String(p.error.slope);
    if (p.outputs !== 2) return;
    const rs = p.area.ratio, det = p.det;
    const vals = rs.filter((v) => v !== null).concat([det]);
    let ra = Math.min(...vals), rb = Math.max(...vals);
    if (rb - ra < 1e-9) { ra -= 1; rb += 1; }
    const pad = 0.08 * (rb - ra);
    const niceTicks = [];
    const step = Math.pow(10, Math.floor(log10((rb - ra) / 4)));
    const stepNice = [1, 2, 5, 10].map((k) => k * step).find((s) => (rb - ra) / s <= 6);
    for (let v = Math.ceil((ra - pad) / stepNice) * stepNice; v <= rb + pad; v += stepNice) niceTicks.push([v, String(Number(v.toPrecision(4)))]);
    const area = $('area-plot');
    plot(area, { x: [lh[0], lh[lh.length - 1]], y: [ra - pad, rb + pad], xticks: decadeTicks(lh[0], lh[lh.length - 1]), yticks: niceTicks,
      xlabel: 'h (log scale)', ylabel: 'area ratio', lines: [
        { points: [[lh[0], det], [lh[lh.length - 1], det]], color: '#555', dash: '5 4', width: 1.2, id: 'det-line' },
        { points: hs.map((h, i) => [log10(h), rs[i]]), color: COL.trueShape, id: 'area-line' }],
      markers: [{ x: log10(p.h), y: p.area.at_h, color: COL.linear, id: 'area-marker', h: p.h, value: p.area.at_h }] });
  }

  // ---------------------------------------------------------------- text
  function showNumbers() {
    const p = state.point, two = p.outputs === 2;
    document.body.classList.toggle('one', !two);
    setNum('num-a0', p.a[0]); setNum('num-a1', p.a[1]);
    setNum('num-F0', p.F[0]); setNum('num-F1', two ? p.F[1] : null);
    setNum('num-J00', p.J[0][0]); setNum('num-J01', p.J[0][1]);
    setNum('num-J10', two ? p.J[1][0] : null); setNum('num-J11', two ? p.J[1][1] : null);
    setNum('num-det', two ? p.det : null);
    setNum('num-sv0', p.singular_values[0]); setNum('num-sv1', two ? p.singular_values[1] : null);
    setNum('num-err', p.error.at_h); setNum('num-slope', p.error.slope);
    setNum('num-ratio', two ? p.area.at_h : null);
    const ul = $('summary');
    while (ul.firstChild) ul.removeChild(ul.firstChild);
    for (const line of p.summary) { const li = document.createElement('li'); li.textContent = line; ul.appendChild(li); }
    $('code').textContent = p.code;
    $('copy-status').textContent = '';
    $('domain').setAttribute('aria-label', 'The plane. Point a = (' + fmt(p.a[0], 4) + ', ' + fmt(p.a[1], 4) + '). ' + p.summary[0]);
  }
  function showGridText() {
    const g = state.grid;
    $('fold-summary').textContent = g.fold_summary;
    const s = $('symbolic');
    if (g.entries) s.textContent = 'J = [' + g.entries.map((row) => '[' + row.join(', ') + ']').join(',\n     ') + ']';
    else s.textContent = state.map && state.map.python ? '(a Python function: no formula; J by automatic differentiation)' : '(too long to show)';
    const two = g.outputs === 2;
    $('image-caption').textContent = two ? 'Its image under F: grid rows (blue) and columns (red), the fold\'s image (dark red)'
      : 'The surface z = f(x, y): the true surface patch over the square (solid) and the tangent plane (dashed, filled)';
    $('domain-caption').textContent = two ? 'The plane: orientation kept (blue) or reversed (orange), det J = 0 (dark red), point a with a circle (purple) and square (green) of size h'
      : 'The plane: values of f (dark low, light high), level curves (white), gradients (arrows), point a with its circle and square';
    $('closeup-caption').textContent = two ? 'Close-up at F(a): true images (solid) against the linear approximation (dashed)'
      : 'f along the gradient direction through a (solid) against the tangent line (dashed), t from -h to h';
  }

  // ---------------------------------------------------------------- requests
  function redrawPoint() {
    drawDomain(); drawImage(); drawCloseup(); drawPlots(); showNumbers();
  }
  function requestPoint(a, t0) {
    if (!state.map) return;
    state.a = a;
    if (state.inflight) { state.pending = { a, t0 }; return; }
    state.inflight = true;
    const start = t0 === undefined ? performance.now() : t0;
    api('point', { map: state.map, a, h: state.h }).then((p) => {
      state.point = p;
      const drawStart = performance.now();
      redrawPoint();
      document.body.dataset.lastDrawMs = (performance.now() - drawStart).toFixed(2);
      say('');
      const ms = performance.now() - start;
      state.timings.push(ms);
      document.body.dataset.lastRedrawMs = ms.toFixed(2);
      document.body.dataset.pointVersion = String(++state.pointVersion);
      if (!document.body.dataset.readyMs) document.body.dataset.readyMs = performance.now().toFixed(1);
    }).catch((e) => say(e.message)).finally(() => {
      state.inflight = false;
      if (state.pending) { const q = state.pending; state.pending = null; requestPoint(q.a, q.t0); }
    });
  }
  async function loadGrid(map, view, cells) {
    try {
      const g = await api('grid', { map, view, cells });
      state.map = map; state.grid = g; state.view = g.view; state.cells = g.cells; state.point = null;
      prepareGrid(); showGridText(); drawDomain(); drawImage();
      document.body.dataset.gridVersion = String(++state.gridVersion);
      showView();
      say('');
      return true;
    } catch (e) { say(e.message); return false; }
  }
  function showView() {
    ['xmin', 'xmax', 'ymin', 'ymax'].forEach((id, i) => { $(id).value = String(state.view[i]); });
    $('cells').value = String(state.cells);
  }
  async function showMap(map, view, point) {
    if (await loadGrid(map, view, state.cells)) requestPoint(point);
  }

  // ---------------------------------------------------------------- controls
  function setH(h) {
    state.h = h;
    $('h').value = String(log10(h));
    $('h-value').textContent = 'h = ' + fmt(h, 3);
  }
  function onSubmit(ev) {
    ev.preventDefault();
    const text = $('expr').value;
    $('preset').value = '';
    $('note').textContent = '';
    const a = state.a;
    showMap({ expr: text }, state.view, a);
  }
  function choosePreset() {
    const key = $('preset').value;
    if (key === 'python') {
      $('expr').value = ''; $('note').textContent = state.python;
      showMap({ python: true }, state.view, state.a);
      return;
    }
    const p = state.presets.find((q) => q.key === key);
    if (!p) return;
    $('expr').value = p.text; $('note').textContent = p.note;
    showMap({ expr: p.text }, p.view, p.point);
  }
  function eventPoint(ev) {
    const c = $('domain'), r = c.getBoundingClientRect();
    const u = (ev.clientX - r.left - c.clientLeft) * c.width / c.clientWidth;
    const v = (ev.clientY - r.top - c.clientTop) * c.height / c.clientHeight;
    return state.domainTf.inv(u, v);
  }
  function bind() {
    $('map-form').addEventListener('submit', onSubmit);
    $('preset').addEventListener('change', choosePreset);
    $('h').addEventListener('input', () => { setH(Math.pow(10, Number($('h').value))); requestPoint(state.a); });
    $('cells').addEventListener('change', () => { loadGrid(state.map, state.view, Number($('cells').value)).then((ok) => { if (ok) requestPoint(state.a); }); });
    $('apply-view').addEventListener('click', () => {
      const v = ['xmin', 'xmax', 'ymin', 'ymax'].map((id) => Number($(id).value));
      loadGrid(state.map, v, state.cells).then((ok) => { if (ok) requestPoint(state.a); });
    });
    const dom = $('domain');
    dom.addEventListener('pointerdown', (ev) => {
      if (!state.grid) return;
      state.dragging = true; dom.setPointerCapture(ev.pointerId); dom.focus();
      requestPoint(eventPoint(ev), performance.now());
    });
    dom.addEventListener('pointermove', (ev) => { if (state.dragging) requestPoint(eventPoint(ev), performance.now()); });
    const end = () => { state.dragging = false; };
    dom.addEventListener('pointerup', end); dom.addEventListener('pointercancel', end);
    dom.addEventListener('keydown', (ev) => {
      if (!state.grid) return;
      const [x0, x1, y0, y1] = state.view, big = ev.shiftKey ? 10 : 1;
      const dx = (x1 - x0) / 100 * big, dy = (y1 - y0) / 100 * big;
      const moves = { ArrowLeft: [-dx, 0], ArrowRight: [dx, 0], ArrowUp: [0, dy], ArrowDown: [0, -dy] };
      if (moves[ev.key]) {
        ev.preventDefault();
        requestPoint([state.a[0] + moves[ev.key][0], state.a[1] + moves[ev.key][1]], performance.now());
      } else if (ev.key === '+' || ev.key === '=' || ev.key === '-' || ev.key === '_') {
        ev.preventDefault();
        const up = ev.key === '+' || ev.key === '=';
        setH(Math.min(1, Math.max(1e-3, state.h * Math.pow(10, up ? 0.1 : -0.1))));
        requestPoint(state.a, performance.now());
      }
    });
    $('copy').addEventListener('click', () => {
      const code = $('code').textContent, status = $('copy-status');
      const fallback = () => {
        const range = document.createRange(); range.selectNodeContents($('code'));
        const sel = window.getSelection(); sel.removeAllRanges(); sel.addRange(range);
        status.textContent = 'Selected: press Ctrl+C (or Cmd+C) to copy.';
      };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(code).then(() => { status.textContent = 'Copied to the clipboard.'; }, fallback);
      } else fallback();
    });
  }
  function legend() {
    const lg = $('legend');
    const items = [['grid rows', COL.rows], ['grid columns', COL.cols], ['det J = 0 and its image', COL.fold],
      ['square (true image solid, linear dashed)', COL.trueShape], ['circle (true image solid, linear dashed)', COL.linear]];
    for (const [label, color] of items) {
      const sw = document.createElement('span'); sw.className = 'swatch'; sw.style.background = color;
      lg.appendChild(sw); lg.appendChild(document.createTextNode(label));
    }
  }

  async function start() {
    bind(); legend();
    if (!token) { say('This page needs the full URL the explorer printed (with ?token=...).'); return; }
    let s;
    try { s = await api('session', {}); } catch (e) { say(e.message); return; }
    state.presets = s.presets; state.python = s.python;
    $('expr').maxLength = s.limits.text;
    const sel = $('preset');
    const add = (value, label) => { const o = document.createElement('option'); o.value = value; o.textContent = label; sel.appendChild(o); };
    add('', 'Examples from the tutorial...');
    if (s.python) add('python', s.python);
    for (const p of s.presets) add(p.key, p.title);
    const init = s.initial;
    state.cells = init.cells; setH(init.h);
    if (init.map.python) { sel.value = 'python'; $('note').textContent = s.python; }
    else {
      $('expr').value = init.map.expr;
      const p = s.presets.find((q) => q.text === init.map.expr && q.point[0] === init.point[0] && q.point[1] === init.point[1]);
      if (p) { sel.value = p.key; $('note').textContent = p.note; }
    }
    await showMap(init.map, init.view, init.point);
  }
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start); else start();
})();
