'use strict';
'require view';
'require dom';
'require fs';
'require ui';
'require uci';
'require iptmon.common as common';

// One host (reached from the other views' links, `?key=<key>`): its
// addresses, totals and usage per period, where the config splits traffic
// (`list breakdown`) the split of its totals and of each period's usage,
// and, for logins with the write grant, rename, exclude and reset, each
// confirmed first. Rename and exclude are `config host` sections in
// /etc/config/iptmon, applied by LuCI's Save & Apply (which reloads
// iptmon); reset zeroes the host's counters now.

function keyFromUrl() {
	var m = /[?&]key=([^&]*)/.exec(window.location.search);
	try {
		return m ? decodeURIComponent(m[1].replace(/\+/g, ' ')) : null;
	}
	catch (e) {
		return null;
	}
}

/** The `config host` section that names this host: by MAC, else by name. */
function findSection(h) {
	var found = null;
	uci.sections('iptmon', 'host', function(s) {
		if (found)
			return;
		if (h.mac ? String(s.mac || '').toLowerCase() === h.mac.toLowerCase() : (!s.mac && s.name === h.name))
			found = s['.name'];
	});
	return found;
}

/** Whether the config splits hosts' traffic (`list breakdown` in `config iptmon`). */
function splitConfigured() {
	var on = false;
	uci.sections('iptmon', 'iptmon', function(s) {
		var b = s.breakdown;
		if (Array.isArray(b) ? b.length : b)
			on = true;
	});
	return on;
}

return view.extend({
	load: function() {
		var key = keyFromUrl();
		var usage = common.read([ 'usage', '--json', '--period', 'all' ]);
		return L.resolveDefault(uci.load('iptmon'), null).then(function() {
			// The busiest hosts' list is small, but carries no split: the whole list where the
			// config splits traffic, or where the host is not among the busiest.
			var status = splitConfigured() ? common.read([ 'status', '--json' ]) : common.read([ 'status', '--json', '--busiest' ]).then(function(st) {
				var found = st && Array.isArray(st.hosts) && st.hosts.some(function(h) { return h.key === key; });
				return found ? st : common.read([ 'status', '--json' ]);
			});
			return Promise.all([ status, usage ]);
		});
	},

	/** Sets options on the host's section (made when missing), saves them for Save & Apply, or applies now. */
	writeHost: function(h, opts, applyNow) {
		var sid = findSection(h);
		if (!sid) {
			sid = uci.add('iptmon', 'host');
			if (h.mac)
				uci.set('iptmon', sid, 'mac', h.mac);
			else {
				uci.set('iptmon', sid, 'name', h.name);
				uci.set('iptmon', sid, 'ip', (h.addresses || []).slice());
			}
		}
		for (var k in opts)
			uci.set('iptmon', sid, k, opts[k]);
		return uci.save().then(function() {
			ui.hideModal();
			if (applyNow)
				return ui.changes.apply(true);
			ui.changes.init();
			ui.addNotification(null, E('p', [ _('Saved. Apply it with "Save & Apply" to make iptmon use it.') ]), 'info');
		});
	},

	/** A confirmation: what happens, Cancel, and the action's buttons. */
	confirm: function(title, body, buttons) {
		ui.showModal(title, [
			E('div', {}, body),
			E('div', { 'class': 'right' }, [ E('button', { 'class': 'cbi-button', 'click': ui.hideModal }, [ _('Cancel') ]) ].concat(buttons.map(function(b) {
				return [ ' ', E('button', { 'class': 'cbi-button ' + (b.danger ? 'cbi-button-negative' : 'cbi-button-positive'), 'click': b.click }, [ b.label ]) ];
			}).reduce(function(a, b) { return a.concat(b); }, [])))
		]);
	},

	handleRename: function(h) {
		var self = this;
		var input = E('input', { 'class': 'cbi-input-text', 'id': 'iptmon-new-name', 'value': String(h.name), 'maxlength': '63', 'style': 'width:100%' });
		var go = function(applyNow) {
			var name = input.value.trim();
			if (!/^[^\x00-\x1f\x7f]{1,63}$/.test(name)) {
				input.classList.add('cbi-input-invalid');
				return;
			}
			return self.writeHost(h, { name: name }, applyNow);
		};
		this.confirm(_('Rename host'), [
			E('p', [ _('The name iptmon shows for %s. iptmon keeps letters, digits and dashes of it.').format(h.mac || h.key) ]),
			input
		], [
			{ label: _('Save'), click: function() { return go(false); } },
			{ label: _('Save & Apply'), click: function() { return go(true); } }
		]);
	},

	handleExclude: function(h) {
		var self = this;
		this.confirm(_('Exclude host'), [
			E('p', [ _('iptmon will stop counting %s and remove its counters when applied. Remove the option ignore from its config host section to count it again.').format(String(h.name)) ])
		], [
			{ label: _('Save'), danger: true, click: function() { return self.writeHost(h, { ignore: '1' }, false); } },
			{ label: _('Save & Apply'), danger: true, click: function() { return self.writeHost(h, { ignore: '1' }, true); } }
		]);
	},

	handleResetHost: function(h) {
		this.confirm(_('Reset counters'), [
			E('p', [ _('Zero the totals of %s now? This period\'s usage counted so far is kept.').format(String(h.name)) ])
		], [
			{ label: _('Reset'), danger: true, click: function() {
				return fs.exec(common.CMD, [ 'reset', '--', h.key ]).then(function(res) {
					ui.hideModal();
					if (res && res.code === 0)
						ui.addNotification(null, E('p', [ _('The counters of %s are zero now.').format(String(h.name)) ]), 'info');
					else
						ui.addNotification(null, E('p', [ _('Reset failed: %s').format(String(res ? res.stderr || res.code : '')) ]), 'danger');
				}).catch(function(e) {
					ui.hideModal();
					ui.addNotification(null, E('p', [ _('Reset failed: %s').format(String(e && e.message || e)) ]), 'danger');
				});
			} }
		]);
	},

	/** Download and upload of each period the host was seen in, as pairs of bars. */
	renderPeriods: function(rows) {
		if (!rows.length)
			return E('p', {}, [ E('em', {}, [ _('No usage of this host in any kept period.') ]) ]);
		var W = common.chartWidth(null), H = 140, B = 18, n = rows.length, slot = W / n, max = 0;
		rows.forEach(function(r) { max = Math.max(max, r.tx_bytes, r.rx_bytes); });
		var h = function(v) { return max ? (H - B - 14) * v / max : 0; };
		var parts = [ common.svg('line', { x1: 0, y1: H - B, x2: W, y2: H - B, stroke: 'currentColor', 'stroke-opacity': '.4' }),
			common.svg('text', { x: W - 2, y: 11, 'font-size': '11', fill: 'currentColor', 'text-anchor': 'end' }, [ common.bytes(max) ]) ];
		rows.forEach(function(r, i) {
			var w = Math.max(1, Math.min(40, slot * 0.35)), x = i * slot + slot / 2 - w;
			parts.push(common.svg('rect', { x: x, y: H - B - h(r.tx_bytes), width: w, height: h(r.tx_bytes), fill: 'hsl(210,70%,50%)', 'data-period': r.period.name }, [ common.svg('title', {}, [ _('%s: download %s').format(r.period.name, common.bytes(r.tx_bytes)) ]) ]));
			parts.push(common.svg('rect', { x: x + w, y: H - B - h(r.rx_bytes), width: w, height: h(r.rx_bytes), fill: 'hsl(30,85%,50%)' }, [ common.svg('title', {}, [ _('%s: upload %s').format(r.period.name, common.bytes(r.rx_bytes)) ]) ]));
			if (n <= 12 || i % Math.ceil(n / 12) === 0)
				parts.push(common.svg('text', { x: i * slot + slot / 2, y: H - 4, 'font-size': '10', fill: 'currentColor', 'text-anchor': 'middle' }, [ r.period.name ]));
		});
		return E('div', { 'id': 'iptmon-host-periods' }, [
			common.svg('svg', { viewBox: '0 0 ' + W + ' ' + H, style: 'width:100%;height:auto;max-height:' + H + 'px;display:block', role: 'img', 'aria-label': _('Usage per period') }, parts),
			E('div', {}, [
				E('span', { 'style': 'margin-right:1em' }, [ E('span', { 'style': 'display:inline-block;width:.8em;height:.8em;background:hsl(210,70%,50%)' }, []), ' ', _('Download') ]),
				E('span', {}, [ E('span', { 'style': 'display:inline-block;width:.8em;height:.8em;background:hsl(30,85%,50%)' }, []), ' ', _('Upload') ])
			]),
			E('table', { 'class': 'table cbi-section-table' }, [
				E('tr', { 'class': 'tr table-titles' }, [ E('th', { 'class': 'th' }, [ _('Period') ]), E('th', { 'class': 'th' }, [ _('Download') ]), E('th', { 'class': 'th' }, [ _('Upload') ]) ])
			].concat(rows.slice().reverse().map(function(r) {
				return E('tr', { 'class': 'tr', 'data-period': r.period.name }, [
					E('td', { 'class': 'td', 'data-title': _('Period') }, [ common.period(r.period) ]),
					common.num(_('Download'), r.tx_bytes, common.bytes(r.tx_bytes)),
					common.num(_('Upload'), r.rx_bytes, common.bytes(r.rx_bytes))
				]);
			})))
		]);
	},

	/** The split of one choice of `splits` (the totals, or a period's usage): a table per kind it carries. */
	renderSplit: function(of) {
		return E('div', { 'id': 'iptmon-host-split', 'data-of': of.id }, common.splitKinds([ of.obj ]).map(function(by) {
			return E('div', {}, [
				E('h4', {}, [ by === 'family' ? _('By IP family') : _('By service') ]),
				E('div', { 'style': 'overflow-x:auto' }, [ common.splitTable('iptmon-split-' + by, by, common.partsOf(of.obj, by), of.obj) ])
			]);
		}));
	},

	/** The split's section: what to show it of (the totals, a period), and its tables; none where nothing is split. */
	renderSplits: function(splits) {
		if (!splits.length)
			return '';
		var self = this, node = E('div', {}, [ this.renderSplit(splits[0]) ]);
		var picker = E('select', { 'class': 'cbi-input-select', 'id': 'iptmon-split-of', 'style': 'max-width:100%',
			'change': function(ev) { dom.content(node, [ self.renderSplit(splits[ev.target.selectedIndex]) ]); } },
			splits.map(function(x) { return E('option', { 'value': x.id }, [ x.label ]); }));
		return E('div', { 'class': 'cbi-section' }, [
			E('h3', {}, [ _('Split') ]),
			E('div', { 'class': 'cbi-section-descr' }, [ _('The host\'s traffic in parts, which add up to all of it. Services are told by the remote side\'s protocol and port.') ]),
			E('div', { 'style': 'display:flex;flex-wrap:wrap;gap:.5em;align-items:center' }, [ E('label', { 'for': 'iptmon-split-of' }, [ _('Split of') ]), picker ]),
			node
		]);
	},

	render: function(data) {
		var key = keyFromUrl(), st = data[0], usage = data[1], self = this;
		var h = key && st && Array.isArray(st.hosts) ? st.hosts.filter(function(x) { return x.key === key; })[0] : null;
		var back = E('p', {}, [ E('a', { 'href': L.url('admin/status/iptmon') }, [ _('\u2190 All hosts') ]) ]);
		if (!h)
			return E('div', { 'class': 'cbi-map' }, [ E('h2', {}, [ _('Host') ]), back,
				E('p', { 'id': 'iptmon-host-missing' }, [ key ? _('iptmon counts no host %s now.').format(key) : _('No host given.') ]) ]);
		var rows = [];
		((usage && usage.periods) || []).forEach(function(p) {
			var u = p.hosts.filter(function(x) { return x.key === key; })[0];
			if (u)
				rows.push({ period: p, host: u, rx_bytes: u.rx_bytes, tx_bytes: u.tx_bytes });
		});
		// What the split is shown of: the totals, then each period's usage, newest first.
		var splits = [];
		if (common.splitKinds([ h ]).length)
			splits.push({ id: 'total', label: _('Totals'), obj: h });
		rows.slice().reverse().forEach(function(r) {
			if (common.splitKinds([ r.host ]).length)
				splits.push({ id: r.period.name, label: common.period(r.period) + (r.period.current ? ' \u2014 ' + _('open') : ''), obj: r.host });
		});
		var perm = L.hasViewPermission();
		var writable = perm === true;
		var action = function(id, label, fn, danger) {
			return E('button', { 'class': 'cbi-button ' + (danger ? 'cbi-button-negative' : 'cbi-button-action'), 'id': id, 'disabled': writable ? null : 'disabled',
				'title': writable ? null : _('Read-only: this login may not change iptmon'), 'click': function() { if (writable) fn.call(self, h); } }, [ label ]);
		};
		var field = function(label, value, raw) {
			return E('tr', { 'class': 'tr' }, [ E('td', { 'class': 'td left' }, [ E('strong', {}, [ label ]) ]),
				E('td', { 'class': 'td left', 'data-value': raw == null ? null : String(raw), 'style': 'overflow-wrap:anywhere' }, [ value ]) ]);
		};
		return E('div', { 'class': 'cbi-map', 'id': 'iptmon-host-view', 'data-key': h.key }, [
			E('h2', {}, [ _('Host: %s').format(String(h.name)) ]),
			back,
			E('div', { 'class': 'cbi-section' }, [
				E('table', { 'class': 'table', 'id': 'iptmon-host-facts' }, [
					field(_('Name'), String(h.name)),
					field(_('Key'), h.key),
					field(_('MAC'), h.mac || _('none (counted by address)')),
					field(_('Addresses'), (h.addresses || []).join(' ') || '-'),
					field(_('Total down'), _('%s (%d packets)').format(common.bytes(h.tx_bytes), h.tx_packets), h.tx_bytes),
					field(_('Total up'), _('%s (%d packets)').format(common.bytes(h.rx_bytes), h.rx_packets), h.rx_bytes),
					field(_('This period down'), h.usage ? common.bytes(h.usage.tx_bytes) : '-', h.usage ? h.usage.tx_bytes : null),
					field(_('This period up'), h.usage ? common.bytes(h.usage.rx_bytes) : '-', h.usage ? h.usage.rx_bytes : null)
				]),
				E('div', { 'style': 'display:flex;flex-wrap:wrap;gap:.5em' }, [
					action('iptmon-rename', _('Rename…'), this.handleRename),
					action('iptmon-exclude', _('Exclude…'), this.handleExclude, true),
					action('iptmon-reset', _('Reset counters…'), this.handleResetHost, true)
				])
			]),
			this.renderSplits(splits),
			E('div', { 'class': 'cbi-section' }, [ E('h3', {}, [ _('Usage per period') ]), this.renderPeriods(rows) ])
		]);
	},

	handleSaveApply: null,
	handleSave: null,
	handleReset: null
});
