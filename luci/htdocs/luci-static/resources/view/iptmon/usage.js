'use strict';
'require view';
'require dom';
'require ui';
'require iptmon.common as common';

// Status -> Traffic usage (iptmon): each host's usage in every kept
// accounting period (`iptmon usage --json --period all`), its share of the
// period's total, where the config splits traffic the period's parts by IP
// family or by service over all hosts, and the period as CSV or JSON.

var BARS = 10;

return view.extend({
	load: function() {
		return common.read([ 'usage', '--json', '--period', 'all' ]);
	},

	columns: function(total) {
		var all = total.rx_bytes + total.tx_bytes;
		return [
			{ id: 'name', title: _('Host'), get: function(h) { return String(h.name); } },
			{ id: 'down', title: _('Download'), num: true, get: function(h) { return h.tx_bytes; }, fmt: common.bytes },
			{ id: 'up', title: _('Upload'), num: true, get: function(h) { return h.rx_bytes; }, fmt: common.bytes },
			{ id: 'total', title: _('Total'), num: true, get: function(h) { return h.rx_bytes + h.tx_bytes; }, fmt: common.bytes },
			{ id: 'share', title: _('Share'), num: true, get: function(h) { return all ? (h.rx_bytes + h.tx_bytes) / all : 0; },
				fmt: common.percent }
		];
	},

	onSort: function(id) {
		this.sort = common.nextSort(this.sort, id);
		this.refresh();
	},

	/** Horizontal bars: the top hosts' share of the period's total, the rest as one bar. */
	renderShares: function(p) {
		var all = p.total.rx_bytes + p.total.tx_bytes;
		var top = p.hosts.slice().sort(function(a, b) { return (b.rx_bytes + b.tx_bytes) - (a.rx_bytes + a.tx_bytes) || String(a.name).localeCompare(String(b.name)); }).slice(0, BARS);
		var rest = all - top.reduce(function(s, h) { return s + h.rx_bytes + h.tx_bytes; }, 0);
		var bar = function(key, label, bytes, color) {
			var share = all ? bytes / all : 0;
			return E('div', { 'class': 'iptmon-share', 'data-key': key == null ? '' : key, 'data-value': String(share), 'style': 'display:flex;align-items:center;gap:.5em;margin:.2em 0' }, [
				E('span', { 'style': 'flex:0 0 30%;min-width:0;overflow:hidden;text-overflow:ellipsis;white-space:nowrap' }, [ label ]),
				E('span', { 'style': 'flex:1 1 auto;min-width:0' }, [
					E('span', { 'style': 'display:block;height:.9em;border-radius:2px;min-width:1px;width:' + (share * 100).toFixed(2) + '%;background:' + color }, [])
				]),
				E('span', { 'style': 'flex:0 0 auto;font-variant-numeric:tabular-nums' }, [ common.percent(share) ])
			]);
		};
		var bars = top.map(function(h) { return bar(h.key, String(h.name), h.rx_bytes + h.tx_bytes, common.color(h.key)); });
		if (rest > 0)
			bars.push(bar(null, _('%d other hosts').format(p.hosts.length - top.length), rest, 'currentColor'));
		return E('div', { 'id': 'iptmon-shares' }, all ? bars : [ E('em', {}, [ _('No traffic in this period.') ]) ]);
	},

	renderTable: function(p) {
		var self = this, cols = this.columns(p.total);
		var col = cols.filter(function(c) { return c.id === self.sort.col; })[0];
		var list = p.hosts.slice().sort(common.compare(col.get, this.sort.desc));
		var rows = list.map(function(h) {
			return E('tr', { 'class': 'tr', 'data-key': h.key }, cols.map(function(c) {
				if (!c.num)
					return E('td', { 'class': 'td', 'data-title': c.title, 'style': 'overflow-wrap:anywhere' }, [ common.hostLink(h.key, h.name) ]);
				var v = c.get(h);
				return common.num(c.title, v, c.fmt.call(common, v));
			}));
		});
		var t = p.total;
		rows.push(E('tr', { 'class': 'tr', 'id': 'iptmon-usage-total' }, [
			E('td', { 'class': 'td', 'data-title': _('Host') }, [ E('strong', {}, [ _('All hosts (%d)').format(p.hosts.length) ]) ]),
			common.num(_('Download'), t.tx_bytes, common.bytes(t.tx_bytes)),
			common.num(_('Upload'), t.rx_bytes, common.bytes(t.rx_bytes)),
			common.num(_('Total'), t.rx_bytes + t.tx_bytes, common.bytes(t.rx_bytes + t.tx_bytes)),
			common.num(_('Share'), 1, '100.0 %')
		]));
		return E('table', { 'class': 'table cbi-section-table', 'id': 'iptmon-usage' }, [
			E('tr', { 'class': 'tr table-titles' }, cols.map(function(c) { return common.sortHeader(c.id, c.title, self.sort, L.bind(self.onSort, self)); }))
		].concat(rows));
	},

	/** The period's parts of kind `by` over all hosts, each part's share of the period's total. */
	renderSplit: function(p, by) {
		return E('div', { 'id': 'iptmon-usage-split' }, [
			E('h3', {}, [ by === 'family' ? _('The period\'s traffic by IP family') : _('The period\'s traffic by service') ]),
			E('div', { 'style': 'overflow-x:auto' }, [ common.splitTable('iptmon-split-' + by, by, common.sumParts(p.hosts, by), p.total) ])
		]);
	},

	period: function() {
		return this.report.periods[this.index];
	},

	/** A row per host; split `by` a kind, a row per host and part (the column part names it). */
	csv: function(p, by) {
		var split = by === 'family' || by === 'service';
		var rows = [ [ 'period', 'start', 'end', 'key', 'name', 'mac' ].concat(split ? [ 'part' ] : [], [ 'download_bytes', 'upload_bytes', 'download_packets', 'upload_packets' ]) ];
		p.hosts.forEach(function(h) {
			var head = [ p.name, p.start, p.end, h.key, h.name, h.mac || '' ];
			var parts = split ? common.partsOf(h, by) : [];
			if (!parts.length)
				parts = [ { name: '', rx_bytes: h.rx_bytes, rx_packets: h.rx_packets, tx_bytes: h.tx_bytes, tx_packets: h.tx_packets } ];
			parts.forEach(function(x) {
				rows.push(head.concat(split ? [ x.name ] : [], [ x.tx_bytes, x.rx_bytes, x.tx_packets, x.rx_packets ]));
			});
		});
		return common.csv(rows);
	},

	refresh: function() {
		var p = this.period();
		dom.content(this.descNode, [ p.current ? _('%s, the open period: it grows until it ends.').format(common.period(p)) : common.period(p) ]);
		dom.content(this.splitNode, this.by === 'none' ? [] : [ this.renderSplit(p, this.by) ]);
		this.splitNode.style.display = this.by === 'none' ? 'none' : '';
		dom.content(this.sharesNode, [ this.renderShares(p) ]);
		dom.content(this.tableNode, [ this.renderTable(p) ]);
	},

	render: function(report) {
		var self = this;
		if (!report || !Array.isArray(report.periods) || !report.periods.length)
			return E('div', { 'class': 'cbi-map' }, [
				E('h2', {}, [ _('Traffic usage') ]),
				E('p', { 'id': 'iptmon-usage-none' }, [ report ? _('No accounting period has been kept yet.') : _('Could not read the usage from iptmon.') ])
			]);
		this.report = report;
		this.index = report.periods.length - 1;
		this.sort = { col: 'total', desc: true };
		// The kinds of split the hosts carry (the config's `list breakdown`); none shown until one is picked.
		var kinds = common.splitKinds(report.periods.reduce(function(all, p) { return all.concat(p.hosts); }, []));
		this.by = 'none';
		this.splitNode = E('div', { 'class': 'cbi-section', 'style': 'display:none' }, []);
		this.descNode = E('p', { 'id': 'iptmon-usage-period' }, []);
		this.sharesNode = E('div', {}, []);
		this.tableNode = E('div', { 'style': 'overflow-x:auto' }, []);
		var picker = E('select', { 'class': 'cbi-input-select', 'id': 'iptmon-period-picker', 'style': 'max-width:100%',
			'change': function(ev) { self.index = Number(ev.target.value); self.refresh(); } },
			report.periods.map(function(p, i) {
				return E('option', { 'value': String(i), 'selected': i === self.index ? 'selected' : null },
					[ common.period(p) + (p.current ? ' \u2014 ' + _('open') : '') ]);
			}).reverse());
		var byPicker = kinds.length ? [
			E('label', { 'for': 'iptmon-split-by' }, [ _('Split by') ]),
			E('select', { 'class': 'cbi-input-select', 'id': 'iptmon-split-by', 'change': function(ev) { self.by = ev.target.value; self.refresh(); } },
				[ E('option', { 'value': 'none' }, [ _('none') ]) ].concat(kinds.map(function(by) {
					return E('option', { 'value': by }, [ by === 'family' ? _('IP family') : _('service') ]);
				})))
		] : [];
		var stamp = function() { return 'iptmon-usage-' + self.period().name; };
		var root = E('div', { 'class': 'cbi-map' }, [
			E('h2', {}, [ _('Traffic usage') ]),
			E('div', { 'class': 'cbi-map-descr' }, [ _('Usage per host in each kept accounting period. Download is what the router sent to the host, upload what it received from it.') ]),
			E('div', { 'class': 'cbi-section' }, [
				E('div', { 'style': 'display:flex;flex-wrap:wrap;gap:.5em;align-items:center' }, [
					E('label', { 'for': 'iptmon-period-picker' }, [ _('Period') ]),
					picker
				].concat(byPicker, [
					E('button', { 'class': 'cbi-button', 'id': 'iptmon-csv', 'click': function() { common.download(stamp() + (self.by === 'none' ? '' : '-by-' + self.by) + '.csv', 'text/csv', self.csv(self.period(), self.by)); } }, [ _('Download CSV') ]),
					E('button', { 'class': 'cbi-button', 'id': 'iptmon-json', 'click': function() { common.download(stamp() + '.json', 'application/json', JSON.stringify(self.period(), null, 1) + '\n'); } }, [ _('Download JSON') ])
				])),
				this.descNode
			]),
			this.splitNode,
			E('div', { 'class': 'cbi-section' }, [ E('h3', {}, [ _('Shares of the period\'s traffic') ]), this.sharesNode ]),
			E('div', { 'class': 'cbi-section' }, [ this.tableNode ]),
			Array.isArray(report.unassigned) && report.unassigned.length
				? E('p', { 'id': 'iptmon-unassigned', 'style': 'opacity:.8' }, [ _('Usage of %d hosts was seen before the clock was set; it goes to the first period opened.').format(report.unassigned.length) ])
				: ''
		]);
		this.refresh();
		return root;
	},

	handleSaveApply: null,
	handleSave: null,
	handleReset: null
});
