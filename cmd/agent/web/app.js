// The rivulet status page: polls /api/status, keeps the last five minutes
// of samples in memory and draws them. No libraries, no network but the
// agent itself.
(function () {
  'use strict';

  var POLL_MS = 2000;
  var WINDOW_MS = 5 * 60 * 1000;
  var history = []; // {t: ms, m: metrics}, oldest first
  var last = null; // the newest /api/status answer

  // key builds a series name as /metrics writes it: name{k="v",...}.
  function key(name, labels) {
    var parts = [];
    for (var k in labels || {}) {
      var v = String(labels[k]).replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
      parts.push(k + '="' + v + '"');
    }
    return parts.length ? name + '{' + parts.join(',') + '}' : name;
  }

  function metric(m, name, labels) {
    var v = m[key(name, labels)];
    return typeof v === 'number' ? v : NaN;
  }

  // rate is the per-second increase of a counter between the two newest samples.
  function rate(name, labels) {
    if (history.length < 2) return NaN;
    var a = history[history.length - 2], b = history[history.length - 1];
    return perSecond(a, b, name, labels);
  }

  function perSecond(a, b, name, labels) {
    var dt = (b.t - a.t) / 1000;
    var dv = metric(b.m, name, labels) - metric(a.m, name, labels);
    if (!(dt > 0) || dv < 0) return NaN; // a restart resets counters
    return dv / dt;
  }

  // ---- formatting ----

  function fmtInt(v) {
    return isFinite(v) ? Math.round(v).toLocaleString('en-US') : '–';
  }

  function fmtNum(v) {
    if (!isFinite(v)) return '–';
    var a = Math.abs(v);
    if (a >= 1e6) return (v / 1e6).toFixed(a >= 1e7 ? 0 : 1) + 'M';
    if (a >= 1e4) return (v / 1e3).toFixed(a >= 1e5 ? 0 : 1) + 'k';
    if (a >= 100 || v === 0) return v.toFixed(0);
    return v.toFixed(a >= 10 ? 1 : 2);
  }

  function fmtBytes(v) {
    if (!isFinite(v)) return '–';
    var units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'], i = 0;
    while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
    return (i === 0 ? v.toFixed(0) : v.toFixed(v >= 100 ? 0 : 1)) + ' ' + units[i];
  }

  function fmtDur(s) {
    if (!isFinite(s)) return '–';
    if (s < 1) return (s * 1000).toFixed(s < 0.01 ? 1 : 0) + ' ms';
    if (s < 60) return s.toFixed(0) + ' s';
    var m = Math.floor(s / 60);
    if (m < 60) return m + ' m ' + Math.floor(s % 60) + ' s';
    var h = Math.floor(m / 60);
    if (h < 48) return h + ' h ' + (m % 60) + ' m';
    return Math.floor(h / 24) + ' d ' + (h % 24) + ' h';
  }

  // ---- DOM helpers: text only, never markup from data ----

  function $(id) { return document.getElementById(id); }

  function el(tag, attrs) {
    var e = document.createElement(tag);
    for (var k in attrs || {}) {
      if (k === 'text') e.textContent = attrs[k];
      else if (k === 'class') e.className = attrs[k];
      else e.setAttribute(k, attrs[k]);
    }
    for (var i = 2; i < arguments.length; i++) {
      var c = arguments[i];
      if (c == null) continue;
      e.appendChild(typeof c === 'string' ? document.createTextNode(c) : c);
    }
    return e;
  }

  function setText(id, text, value) {
    var e = $(id);
    e.textContent = text;
    if (value !== undefined) e.setAttribute('data-value', String(value));
    return e;
  }

  function setBadge(id, verdict, name) {
    var e = $(id);
    e.textContent = name + (verdict.ok ? ' ok' : ' failing');
    e.className = 'badge ' + (verdict.ok ? 'ok' : 'bad');
    e.title = verdict.ok ? name + ': ok' : verdict.reason;
  }

  // ---- rendering ----

  function renderHeader(s) {
    document.title = 'rivulet · ' + s.site;
    $('site').textContent = s.site;
    var v = s.version + (s.commit && s.commit !== 'unknown' ? ' (' + s.commit + ')' : '');
    $('version').textContent = v;
    $('footer-version').textContent = 'rivulet ' + v;
    $('uptime').textContent = fmtDur(s.uptime_seconds);
    setBadge('health', s.health, 'health');
    setBadge('ready', s.ready, 'ready');
  }

  function renderCards(s) {
    var m = s.metrics;
    setText('messages-rate', fmtNum(rate('rivulet_messages_total')));
    setText('points-rate', fmtNum(rate('rivulet_points_total')));
    var total = metric(m, 'rivulet_messages_total');
    setText('messages-total', fmtInt(total), total);
    var n = history.length;
    var lat = NaN;
    if (n >= 2) {
      var a = history[n - 2].m, b = history[n - 1].m;
      var dc = metric(b, 'rivulet_ack_latency_seconds_count') - metric(a, 'rivulet_ack_latency_seconds_count');
      var ds = metric(b, 'rivulet_ack_latency_seconds_sum') - metric(a, 'rivulet_ack_latency_seconds_sum');
      if (dc > 0) lat = ds / dc;
    }
    setText('ack-latency', fmtDur(lat));
    setText('syncs-rate', fmtNum(rate('rivulet_syncs_total')));
    var backlog = 0;
    s.config.sinks.forEach(function (k) { backlog += metric(m, 'rivulet_outbox_entries', { sink: k.name }) || 0; });
    setText('backlog-total', fmtInt(backlog), backlog);
    var age = metric(m, 'rivulet_checkpoint_age_seconds');
    setText('checkpoint-age', fmtDur(age));
    setText('open-windows', fmtInt(metric(m, 'rivulet_open_windows')) + ' / ' + fmtInt(metric(m, 'rivulet_open_series')));
    var late = metric(m, 'rivulet_late_points_total');
    setText('late-points', fmtInt(late), late).className = 'value' + (late > 0 ? ' warn' : '');
    var dropped = metric(m, 'rivulet_dropped_total', { reason: 'qos0_queue_full' }) +
      metric(m, 'rivulet_dropped_total', { reason: 'quarantined' });
    setText('dropped', fmtInt(dropped), dropped).className = 'value' + (dropped > 0 ? ' warn' : '');
    setText('log-size', fmtBytes(metric(m, 'rivulet_log_bytes')));
    var rss = metric(m, 'process_resident_memory_bytes');
    setText('memory', fmtBytes(isFinite(rss) ? rss : metric(m, 'go_memstats_sys_bytes')));
  }

  function renderSinks(s) {
    var m = s.metrics, body = $('sinks').tBodies[0], now = s.time_ms;
    var state = {};
    s.sinks.forEach(function (x) { state[x.name] = x; });
    body.replaceChildren();
    s.config.sinks.forEach(function (k) {
      var l = { sink: k.name }, st = state[k.name] || {};
      var failures = metric(m, 'rivulet_sink_consecutive_failures', l);
      var next = '—';
      if (st.next_retry) next = 'in ' + fmtDur(Math.max(0, (Date.parse(st.next_retry) - now) / 1000));
      var entries = metric(m, 'rivulet_outbox_entries', l);
      body.appendChild(el('tr', { 'data-sink': k.name },
        el('td', { text: k.name }),
        el('td', { text: k.type }),
        el('td', { class: 'num', text: fmtInt(entries), 'data-value': entries }),
        el('td', { class: 'num', text: fmtBytes(metric(m, 'rivulet_outbox_bytes', l)) }),
        el('td', { class: 'num', text: entries > 0 ? fmtDur(metric(m, 'rivulet_outbox_oldest_age_seconds', l)) : '—' }),
        el('td', { class: 'num', text: fmtInt(metric(m, 'rivulet_sink_points_total', l)) }),
        el('td', { class: 'num', text: fmtInt(metric(m, 'rivulet_sink_retries_total', l)) }),
        el('td', { class: 'num', text: fmtInt(failures) }),
        el('td', { text: next }),
        el('td', { class: 'error' + (failures > 0 ? '' : ' old'), text: st.last_error ? st.last_error + (failures > 0 ? '' : ' (resolved)') : '—' })));
    });
  }

  function renderSources(s) {
    var m = s.metrics, body = $('sources').tBodies[0];
    body.replaceChildren();
    s.config.sources.forEach(function (src) {
      var l = { source: src.name };
      var up = metric(m, 'rivulet_source_up', l) === 1;
      var msgs = metric(m, 'rivulet_source_messages_total', l);
      body.appendChild(el('tr', { 'data-source': src.name },
        el('td', { text: src.name }),
        el('td', { class: up ? 'up' : 'down', text: up ? '● connected' : '○ disconnected' }),
        el('td', { class: 'num', text: fmtInt(msgs), 'data-value': msgs }),
        el('td', { class: 'num', text: fmtInt(metric(m, 'rivulet_source_decode_errors_total', l)) }),
        el('td', { class: 'num', text: fmtInt(metric(m, 'rivulet_source_unrouted_total', l)) }),
        el('td', { class: 'num', text: fmtInt(metric(m, 'rivulet_source_reconnects_total', l)) }),
        el('td', { class: 'num', text: fmtInt(metric(m, 'rivulet_source_unacked_messages', l)) })));
    });
  }

  function renderAlerts(s) {
    var p = $('alerts');
    if (!s.alerts || s.alerts.length === 0) {
      p.textContent = 'No alerts yet.';
      return;
    }
    p.textContent = s.alerts.length + ' alert(s).';
  }

  var configShown = '';

  function renderConfig(s) {
    var c = s.config, json = JSON.stringify(c);
    if (json === configShown) return; // unchanged: keep the reader's selection
    configShown = json;
    var box = $('config');
    box.replaceChildren();
    box.appendChild(el('div', null, el('h3', { text: 'Site' }),
      el('dl', null,
        el('dt', { text: 'site' }), el('dd', { text: c.site }),
        el('dt', { text: 'data_dir' }), el('dd', null, el('code', { text: c.data_dir })),
        el('dt', { text: 'durability' }), el('dd', { text: c.durability }),
        el('dt', { text: 'log compression' }), el('dd', { text: c.compression }))));
    var src = el('div', null, el('h3', { text: 'Sources' }));
    c.sources.forEach(function (x) {
      var topics = el('dd');
      x.topics.forEach(function (t) { topics.appendChild(el('div', null, el('code', { text: t }))); });
      src.appendChild(el('h4', { text: x.name }));
      src.appendChild(el('dl', null,
        el('dt', { text: 'broker' }), el('dd', null, el('code', { text: x.broker })),
        el('dt', { text: 'qos' }), el('dd', { text: String(x.qos) }),
        el('dt', { text: 'topics' }), topics));
    });
    box.appendChild(src);
    var steps = el('div', null, el('h3', { text: 'Pipeline' }));
    c.pipeline.forEach(function (x) {
      steps.appendChild(el('h4', { text: x.name }));
      steps.appendChild(el('dl', null,
        el('dt', { text: 'input' }), el('dd', { text: x.measurement || '(every measurement)' }),
        el('dt', { text: 'window' }), el('dd', { text: x.window }),
        el('dt', { text: 'group by' }), el('dd', { text: x.group_by.length ? x.group_by.join(', ') : '(none)' }),
        el('dt', { text: 'aggregates' }), el('dd', { text: x.aggregates.join(', ') }),
        el('dt', { text: 'to' }), el('dd', { text: x.to.join(', ') })));
    });
    box.appendChild(steps);
    var sinks = el('div', null, el('h3', { text: 'Sinks' }));
    var dl = el('dl');
    c.sinks.forEach(function (x) {
      dl.appendChild(el('dt', { text: x.name }));
      dl.appendChild(el('dd', null, x.type + ' · ', el('code', { text: x.target })));
    });
    sinks.appendChild(dl);
    box.appendChild(sinks);
  }

  // ---- charts ----

  var PALETTE = ['--s1', '--s2', '--s3', '--s4', '--s5', '--s6'];

  function cssVar(name) {
    return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || '#888';
  }

  // niceStep rounds v up to 1, 2, 2.5 or 5 times a power of ten.
  function niceStep(v) {
    if (!(v > 0)) return 0.25;
    var p = Math.pow(10, Math.floor(Math.log10(v)));
    var f = v / p;
    return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 2.5 ? 2.5 : f <= 5 ? 5 : 10) * p;
  }

  // drawChart draws series [{name, color, pts: [[t, v]]}] over the last
  // WINDOW_MS ending at tEnd, and marks the canvas once a point is drawn.
  // opts.integer keeps the axis in whole units (counts of entries).
  function drawChart(canvas, legend, series, tEnd, opts) {
    var dpr = window.devicePixelRatio || 1;
    var w = canvas.clientWidth, h = canvas.clientHeight;
    if (w === 0 || h === 0) return;
    if (canvas.width !== Math.round(w * dpr) || canvas.height !== Math.round(h * dpr)) {
      canvas.width = Math.round(w * dpr);
      canvas.height = Math.round(h * dpr);
    }
    var ctx = canvas.getContext('2d');
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, w, h);
    var left = 46, right = 8, top = 8, bottom = 20;
    var pw = w - left - right, ph = h - top - bottom;
    var tStart = tEnd - WINDOW_MS;
    var vmax = 0, drawn = 0;
    series.forEach(function (s) {
      s.pts.forEach(function (p) { if (p[0] >= tStart && isFinite(p[1])) vmax = Math.max(vmax, p[1]); });
    });
    var step = niceStep(vmax / 4);
    if (opts && opts.integer) step = Math.max(1, Math.ceil(step));
    vmax = 4 * step;
    var decimals = step >= 1 ? 0 : step >= 0.5 ? 1 : 2;
    var x = function (t) { return left + (t - tStart) / WINDOW_MS * pw; };
    var y = function (v) { return top + ph - v / vmax * ph; };

    ctx.font = '11px system-ui, sans-serif';
    ctx.lineWidth = 1;
    ctx.strokeStyle = cssVar('--grid');
    ctx.fillStyle = cssVar('--muted');
    ctx.textAlign = 'right';
    ctx.textBaseline = 'middle';
    for (var i = 0; i <= 4; i++) {
      var v = vmax * i / 4, yy = Math.round(y(v)) + 0.5;
      ctx.beginPath(); ctx.moveTo(left, yy); ctx.lineTo(w - right, yy); ctx.stroke();
      ctx.fillText(v >= 1e4 ? fmtNum(v) : v.toFixed(decimals), left - 6, yy);
    }
    ctx.textAlign = 'center';
    ctx.textBaseline = 'top';
    var narrow = pw < 420, every = pw < 240 ? 2 : 1;
    for (var mnt = 5; mnt >= 0; mnt--) {
      if (mnt % every) continue;
      var xx = x(tEnd - mnt * 60000);
      var label = mnt === 0 ? 'now' : '−' + mnt + (narrow ? 'm' : ' min');
      ctx.fillText(label, Math.min(Math.max(xx, left + 14), w - right - 12), top + ph + 5);
    }

    series.forEach(function (s) {
      ctx.strokeStyle = s.color;
      ctx.lineWidth = 2;
      ctx.lineJoin = 'round';
      ctx.setLineDash(s.dash || []); // so that equal series both show
      ctx.beginPath();
      var pen = false, n = 0, lastPt = null;
      s.pts.forEach(function (p) {
        if (p[0] < tStart || !isFinite(p[1])) { pen = false; return; }
        if (pen) ctx.lineTo(x(p[0]), y(p[1])); else ctx.moveTo(x(p[0]), y(p[1]));
        pen = true; n++; lastPt = p;
      });
      ctx.stroke();
      ctx.setLineDash([]);
      if (lastPt) { // a dot on the newest value, so a single point shows too
        ctx.fillStyle = s.color;
        ctx.beginPath();
        ctx.arc(x(lastPt[0]), y(lastPt[1]), 2.5, 0, 2 * Math.PI);
        ctx.fill();
      }
      drawn += n;
    });

    legend.replaceChildren();
    series.forEach(function (s) {
      var newest = s.pts.length ? s.pts[s.pts.length - 1][1] : NaN;
      var item = el('span', null, el('i'), s.name + ' ' + fmtNum(newest));
      item.firstChild.style.background = s.color;
      legend.appendChild(item);
    });
    canvas.setAttribute('data-points', String(drawn));
    if (drawn > 0) canvas.setAttribute('data-drawn', 'true');
  }

  function renderCharts() {
    if (!last || history.length === 0) return;
    var tEnd = history[history.length - 1].t;
    var msgs = [], pts = [];
    for (var i = 1; i < history.length; i++) {
      var a = history[i - 1], b = history[i];
      msgs.push([b.t, perSecond(a, b, 'rivulet_messages_total')]);
      pts.push([b.t, perSecond(a, b, 'rivulet_points_total')]);
    }
    drawChart($('chart-throughput'), $('legend-throughput'), [
      { name: 'messages/s', color: cssVar('--s1'), pts: msgs },
      { name: 'points/s', color: cssVar('--s2'), pts: pts, dash: [6, 4] }
    ], tEnd);
    var backlog = last.config.sinks.map(function (k, j) {
      return {
        name: k.name,
        color: cssVar(PALETTE[j % PALETTE.length]),
        dash: j % 2 ? [6, 4] : null,
        pts: history.map(function (h) { return [h.t, metric(h.m, 'rivulet_outbox_entries', { sink: k.name })]; })
      };
    });
    drawChart($('chart-backlog'), $('legend-backlog'), backlog, tEnd, { integer: true });
  }

  // ---- polling ----

  function render(s) {
    last = s;
    history.push({ t: s.time_ms, m: s.metrics });
    while (history.length > 2 && history[0].t < s.time_ms - WINDOW_MS - POLL_MS) history.shift();
    renderHeader(s);
    renderCards(s);
    renderSinks(s);
    renderSources(s);
    renderAlerts(s);
    renderConfig(s);
    renderCharts();
    document.body.setAttribute('data-updated', String(s.time_ms));
  }

  // poll fetches the status and renders it. A failed fetch shows the
  // offline banner; a failure to render is left to surface in the console.
  function poll() {
    fetch('api/status', { cache: 'no-store' })
      .then(function (r) {
        if (!r.ok) throw new Error('HTTP ' + r.status);
        return r.json();
      })
      .then(function (s) {
        $('offline').hidden = true;
        try {
          render(s);
        } finally {
          setTimeout(poll, POLL_MS);
        }
      }, function () {
        $('offline').hidden = false;
        setTimeout(poll, POLL_MS);
      });
  }

  var resizeTimer = 0;
  window.addEventListener('resize', function () {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(renderCharts, 100);
  });
  poll();
})();
