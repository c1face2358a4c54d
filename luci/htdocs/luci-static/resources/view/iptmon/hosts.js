'use strict';
'require view';
'require dom';
'require poll';
'require ui';
'require iptmon.common as common';

// Status -> Hosts' traffic (iptmon): live rates per host. Each poll reads
// `iptmon status --json --busiest` (the 100 busiest hosts by this period's
// usage, plus totals over all hosts), so a poll costs the same with 10 hosts or
// 5,000; the whole list (`status --json`) is read only when asked for.

var INTERVAL = 5;         // seconds between polls
var HISTORY = 60;         // samples kept for the chart (5 minutes)
var CHART_HOSTS = 6;      // lines in the chart
var PAGE = 250;           // rows drawn at once; "Show more" adds as many

var ARGS_BUSIEST = [ 'status', '--json', '--busiest' ];
var ARGS_ALL = [ 'status', '--json' ];

function usageOf(h) {
	return h.usage ? h.usage.rx_bytes + h.usage.tx_bytes : 0;
}

/** The order of `status --json --busiest`: this period's usage, then total bytes, then name. */
function busiest(a, b) {
	return usageOf(b) - usageOf(a) || (b.rx_bytes + b.tx_bytes) - (a.rx_bytes + a.tx_bytes) ||
		String(a.name).localeCompare(String(b.name)) || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0);
}

return view.extend({
	load: function() {
		return common.read(ARGS_BUSIEST);
	},

	/** Takes one reading: updates hosts, their rates (bytes since the last reading of that host) and the history. */
	take: function(st, now, complete) {
		if (!st || !Array.isArray(st.hosts))
			return;
		var self = this, seen = {};
		st.hosts.forEach(function(h) {
			var prev = self.last[h.key];
			if (prev && now > prev.t && h.rx_bytes >= prev.rx && h.tx_bytes >= prev.tx)
				self.rates[h.key] = { down: (h.tx_bytes - prev.tx) * 8 / ((now - prev.t) / 1000), up: (h.rx_bytes - prev.rx) * 8 / ((now - prev.t) / 1000) };
			else if (prev)
				delete self.rates[h.key]; // counters went back (a reset): no rate until the next reading
			self.last[h.key] = { t: now, rx: h.rx_bytes, tx: h.tx_bytes };
			self.hosts[h.key] = h;
			seen[h.key] = true;
		});
		// A complete list says which hosts are gone; the busiest list cannot, but a host
		// missing from it has no current rate (its last one would be stale).
		if (complete)
			Object.keys(this.hosts).forEach(function(k) { if (!seen[k]) { delete self.hosts[k]; delete self.rates[k]; delete self.last[k]; } });
		else {
			Object.keys(this.rates).forEach(function(k) { if (!seen[k]) delete self.rates[k]; });
			// Until all hosts are asked for, the table is the busiest list as it is now
			// (a host's last reading stays, for its rate should it come back).
			if (!this.full)
				Object.keys(this.hosts).forEach(function(k) { if (!seen[k]) delete self.hosts[k]; });
		}
		this.status = st;
		var point = { t: now, v: {} };
		Object.keys(seen).forEach(function(k) {
			var r = self.rates[k];
			if (r) point.v[k] = r.down + r.up;
		});
		if (!complete) {
			this.history.push(point);
			if (this.history.length > HISTORY)
				this.history.shift();
		}
	},

	/** The whole list, once, on demand (search over all hosts, "show all"). */
	readAll: function() {
		var self = this;
		this.allButton.disabled = true;
		return common.read(ARGS_ALL).then(function(st) {
			self.allButton.disabled = false;
			if (!st) {
				ui.addNotification(null, E('p', [ _('Could not read the list of all hosts.') ]), 'danger');
				return;
			}
			self.take(st, Date.now(), true);
			self.full = true;
			self.refresh();
		});
	},

	columns: function() {
		var r = this.rates;
		return [
			{ id: 'name', title: _('Host'), get: function(h) { return String(h.name); } },
			{ id: 'down', title: _('Download'), num: true, get: function(h) { return r[h.key] ? r[h.key].down : null; }, fmt: common.rate },
			{ id: 'up', title: _('Upload'), num: true, get: function(h) { return r[h.key] ? r[h.key].up : null; }, fmt: common.rate },
			{ id: 'total_down', title: _('Total down'), num: true, get: function(h) { return h.tx_bytes; }, fmt: common.bytes },
			{ id: 'total_up', title: _('Total up'), num: true, get: function(h) { return h.rx_bytes; }, fmt: common.bytes },
			{ id: 'period_down', title: _('This period down'), num: true, get: function(h) { return h.usage ? h.usage.tx_bytes : null; }, fmt: common.bytes },
			{ id: 'period_up', title: _('This period up'), num: true, get: function(h) { return h.usage ? h.usage.rx_bytes : null; }, fmt: common.bytes }
		];
	},

	matches: function(h, q) {
		if (!q)
			return true;
		var hay = [ h.name, h.key, h.mac || '' ].concat(h.addresses || []).join(' ').toLowerCase();
		return hay.indexOf(q) >= 0;
	},

	onSort: function(id) {
		this.sort = common.nextSort(this.sort, id);
		this.refresh();
	},

	renderTable: function(list, cols) {
		var self = this;
		var head = E('tr', { 'class': 'tr table-titles' }, cols.map(function(c) {
			return common.sortHeader(c.id, c.title, self.sort, L.bind(self.onSort, self));
		}));
		var rows = list.map(function(h) {
			return E('tr', { 'class': 'tr', 'data-key': h.key }, cols.map(function(c) {
				if (!c.num)
					return E('td', { 'class': 'td', 'data-title': c.title, 'style': 'overflow-wrap:anywhere' }, [
						E('span', { 'style': 'display:inline-block;width:.7em;height:.7em;margin-right:.35em;border-radius:2px;background:' + common.color(h.key) }, []),
						common.hostLink(h.key, h.name),
						E('br', {}, []),
						E('small', { 'style': 'opacity:.75;overflow-wrap:anywhere' }, [ [ h.mac || '' ].concat(h.addresses || []).filter(Boolean).join(' ') ])
					]);
				var v = c.get(h);
				return common.num(c.title, v, v == null ? '-' : c.fmt.call(common, v));
			}));
		});
		return E('table', { 'class': 'table cbi-section-table', 'id': 'iptmon-hosts' }, [ head ].concat(rows));
	},

	renderFooter: function(shown, cols) {
		var st = this.status || {}, t = st.totals, self = this;
		var count = typeof st.count === 'number' ? st.count : Object.keys(this.hosts).length;
		var rate = { down: 0, up: 0 };
		Object.keys(this.rates).forEach(function(k) { rate.down += self.rates[k].down; rate.up += self.rates[k].up; });
		var sums = {
			down: rate.down, up: rate.up,
			total_down: t ? t.tx_bytes : null, total_up: t ? t.rx_bytes : null,
			period_down: t && t.usage ? t.usage.tx_bytes : null, period_up: t && t.usage ? t.usage.rx_bytes : null
		};
		return E('table', { 'class': 'table', 'id': 'iptmon-totals' }, [
			E('tr', { 'class': 'tr table-titles' }, cols.map(function(c) { return E('th', { 'class': 'th' }, [ c.id === 'name' ? _('All hosts') : c.title ]); })),
			E('tr', { 'class': 'tr' }, cols.map(function(c) {
				if (!c.num)
					return E('td', { 'class': 'td', 'data-title': _('Hosts'), 'id': 'iptmon-shown' }, [ _('%d of %d hosts shown').format(shown, count) ]);
				return common.num(c.title, sums[c.id], sums[c.id] == null ? '-' : c.fmt.call(common, sums[c.id]));
			}))
		]);
	},

	/** Lines of the hosts with the most traffic over the chart's window, against time. */
	renderChart: function() {
		// Drawn at the width it is shown at (once on the page), so its text is never stretched.
		var hist = this.history, W = common.chartWidth(this.chartNode), H = 160, PADL = 4, PADB = 18;
		var sum = {};
		hist.forEach(function(p) { for (var k in p.v) sum[k] = (sum[k] || 0) + p.v[k]; });
		var keys = Object.keys(sum).filter(function(k) { return sum[k] > 0; })
			.sort(function(a, b) { return sum[b] - sum[a] || (a < b ? -1 : 1); }).slice(0, CHART_HOSTS);
		var max = 0;
		hist.forEach(function(p) { keys.forEach(function(k) { if ((p.v[k] || 0) > max) max = p.v[k]; }); });
		var t1 = hist.length ? hist[hist.length - 1].t : Date.now(), t0 = t1 - HISTORY * INTERVAL * 1000;
		var x = function(t) { return PADL + (W - PADL - 2) * (t - t0) / (t1 - t0); };
		var y = function(v) { return (H - PADB) - (H - PADB - 4) * (max ? v / max : 0); };
		var parts = [
			common.svg('line', { x1: PADL, y1: H - PADB, x2: W, y2: H - PADB, stroke: 'currentColor', 'stroke-opacity': '.4' }),
			common.svg('line', { x1: PADL, y1: 4, x2: W, y2: 4, stroke: 'currentColor', 'stroke-opacity': '.15' })
		];
		// A tick each minute back from the latest reading.
		for (var m = 0; m * 60000 <= t1 - t0; m++) {
			var tt = t1 - m * 60000;
			parts.push(common.svg('line', { x1: x(tt), y1: H - PADB, x2: x(tt), y2: H - PADB + 3, stroke: 'currentColor', 'stroke-opacity': '.4' }));
			parts.push(common.svg('text', { x: x(tt), y: H - 4, 'font-size': '11', fill: 'currentColor', 'text-anchor': m === 0 ? 'end' : (tt - t0 < 1000 ? 'start' : 'middle') },
				[ m === 0 ? _('now') : _('-%d min').format(m) ]));
		}
		parts.push(common.svg('text', { x: PADL + 2, y: 16, 'font-size': '11', fill: 'currentColor', 'text-anchor': 'start' }, [ max ? common.rate(max) : _('no traffic yet') ]));
		keys.forEach(function(k) {
			var pts = hist.filter(function(p) { return p.v[k] != null; }).map(function(p) { return x(p.t).toFixed(1) + ',' + y(p.v[k]).toFixed(1); });
			if (pts.length === 1)
				parts.push(common.svg('circle', { cx: pts[0].split(',')[0], cy: pts[0].split(',')[1], r: '2.5', fill: common.color(k) }));
			if (pts.length)
				parts.push(common.svg('polyline', { points: pts.join(' '), fill: 'none', stroke: common.color(k), 'stroke-width': '2', 'data-key': k }));
		});
		var self = this;
		return E('div', { 'id': 'iptmon-chart' }, [
			common.svg('svg', { viewBox: '0 0 ' + W + ' ' + H, style: 'width:100%;height:auto;max-height:' + H + 'px;display:block', role: 'img', 'aria-label': _('Rates of the busiest hosts') }, parts),
			E('div', { 'id': 'iptmon-legend' }, keys.map(function(k) { return common.swatch(k, self.hosts[k] ? self.hosts[k].name : k); }))
		]);
	},

	/** Redraws everything from what is known; timed, so tests and people can see what a refresh costs. */
	refresh: function() {
		var t0 = performance.now();
		var self = this, cols = this.columns(), st = this.status || {};
		var q = this.query.trim().toLowerCase();
		var list = Object.keys(this.hosts).map(function(k) { return self.hosts[k]; })
			.filter(function(h) { return self.matches(h, q); });
		if (this.sort.col === 'busiest')
			list.sort(busiest);
		else {
			var col = cols.filter(function(c) { return c.id === self.sort.col; })[0];
			list.sort(common.compare(col.get, this.sort.desc));
		}
		var count = typeof st.count === 'number' ? st.count : list.length;
		var matching = list.length;
		list = list.slice(0, this.limit);
		this.moreButton.style.display = matching > list.length ? '' : 'none';
		this.moreButton.textContent = _('Show %d more of %d').format(Math.min(PAGE, matching - list.length), matching - list.length);
		// period: null means none is open; absent, the binary predates the field.
		dom.content(this.periodNode, [ !this.status ? _('Could not read iptmon\'s status: is iptmon installed, and may this login run it?')
			: st.period ? _('This period: %s').format(common.period(st.period)) : st.period === null ? _('No accounting period is open.') : '' ]);
		dom.content(this.sortNode, [ this.sort.col === 'busiest' ? _('Sorted busiest first (this period\'s usage)') : '' ]);
		dom.content(this.scopeNode, [ this.full ? _('All hosts, as read on demand; rates come from the busiest hosts\' polls.')
			: _('The %d busiest hosts; search or show all to see the others.').format(Object.keys(this.hosts).length) ]);
		dom.content(this.chartNode, [ this.renderChart() ]);
		dom.content(this.tableNode, [ this.renderTable(list, cols) ]);
		dom.content(this.footNode, [ this.renderFooter(list.length, cols) ]);
		this.allButton.textContent = this.full ? _('Read all hosts again') : (q ? _('Search all %d hosts').format(count) : _('Show all %d hosts').format(count));
		this.refreshes++;
		this.lastRefreshMs = performance.now() - t0;
		this.root.setAttribute('data-refreshes', String(this.refreshes));
	},

	render: function(st) {
		var self = this;
		this.hosts = {};
		this.rates = {};
		this.last = {};
		this.history = [];
		this.status = null;
		this.full = false;
		this.query = '';
		this.sort = { col: 'busiest', desc: true };
		this.refreshes = 0;
		this.take(st, Date.now(), false);

		this.periodNode = E('p', { 'id': 'iptmon-period' }, []);
		this.sortNode = E('span', { 'id': 'iptmon-sorted' }, []);
		this.scopeNode = E('p', { 'id': 'iptmon-scope', 'style': 'opacity:.8' }, []);
		this.chartNode = E('div', {}, []);
		this.tableNode = E('div', { 'style': 'overflow-x:auto' }, []);
		this.footNode = E('div', {}, []);
		this.limit = PAGE;
		this.moreButton = E('button', { 'class': 'cbi-button', 'id': 'iptmon-more', 'click': function() { self.limit += PAGE; self.refresh(); } }, []);
		this.allButton = E('button', { 'class': 'cbi-button', 'id': 'iptmon-all', 'click': function() { self.readAll(); } }, [ _('Show all hosts') ]);
		var search = E('input', { 'type': 'search', 'class': 'cbi-input-text', 'id': 'iptmon-search', 'placeholder': _('Filter: name, MAC or address'), 'style': 'max-width:100%',
			'input': function(ev) { self.query = ev.target.value; self.refresh(); } });

		this.root = E('div', { 'class': 'cbi-map', 'id': 'iptmon-hosts-view' }, [
			E('h2', {}, [ _('Hosts\' traffic') ]),
			E('div', { 'class': 'cbi-map-descr' }, [ _('Download and upload rates per host, their totals since counting began, and this accounting period\'s usage. Download is what the router sent to the host, upload what it received from it.') ]),
			this.periodNode,
			E('div', { 'class': 'cbi-section' }, [ this.chartNode ]),
			E('div', { 'class': 'cbi-section' }, [
				E('div', { 'style': 'display:flex;flex-wrap:wrap;gap:.5em;align-items:center;margin-bottom:.5em' }, [
					search,
					E('button', { 'class': 'cbi-button', 'id': 'iptmon-busiest', 'click': function() { self.sort = { col: 'busiest', desc: true }; self.refresh(); } }, [ _('Busiest first') ]),
					this.allButton,
					this.sortNode
				]),
				this.scopeNode,
				this.tableNode,
				E('div', { 'style': 'margin:.5em 0' }, [ this.moreButton ]),
				this.footNode
			])
		]);
		this.refresh();

		poll.add(function() {
			return common.read(ARGS_BUSIEST).then(function(next) {
				// A failed poll keeps what is shown (a router busy for a moment); the next one may answer.
				if (!next)
					return;
				self.take(next, Date.now(), false);
				self.refresh();
			});
		}, INTERVAL);
		return this.root;
	},

	handleSaveApply: null,
	handleSave: null,
	handleReset: null
});
