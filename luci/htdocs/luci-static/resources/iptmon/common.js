'use strict';
'require baseclass';
'require fs';

// What the iptmon views share: the command they run, how numbers read (the
// same rules as the binary's own src/top/format.ts; a unit test compares
// them), one colour per host key, sorting, CSV, the split's tables, and
// cells built from text nodes only: host names are whatever a DHCP client
// sent, and part names whatever the config says, so they are never markup.
// (LuCI's E() sets innerHTML when a child is a bare string; every child here
// is passed in an array, which E() turns into text nodes.)

var CMD = '/usr/sbin/iptmon';

// The kinds of split (`list breakdown`) and the field of the JSON that carries each.
var SPLITS = [ { by: 'family', field: 'families' }, { by: 'service', field: 'services' } ];

function fieldOf(by) {
	var k = SPLITS.filter(function(x) { return x.by === by; })[0];
	return k ? k.field : null;
}

function shown(x) {
	return Number(x.toFixed(x < 10 ? 2 : x < 100 ? 1 : 0));
}

function pad(n) {
	return (n < 10 ? '0' : '') + n;
}

return baseclass.extend({
	CMD: CMD,

	/** Runs a read command of the ACL (exact command lines) and parses its JSON. */
	read: function(args) {
		return L.resolveDefault(fs.exec_direct(CMD, args, 'json'), null);
	},

	bytes: function(n) {
		if (typeof n !== 'number' || !isFinite(n))
			return '-';
		var units = [ 'B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB' ], v = n, i = 0;
		while (i < units.length - 1 && (i === 0 ? v >= 1024 : shown(v) >= 1024)) {
			v /= 1024;
			i++;
		}
		return i === 0 ? n + ' B' : v.toFixed(v < 10 ? 2 : v < 100 ? 1 : 0) + ' ' + units[i];
	},

	/** Bits per second, SI units; null (not known yet) reads as "-". */
	rate: function(bps) {
		if (bps == null || !isFinite(bps) || bps < 0)
			return '-';
		var units = [ 'bit/s', 'kbit/s', 'Mbit/s', 'Gbit/s', 'Tbit/s' ], v = bps, i = 0;
		if (shown(v) < 1000)
			return Math.round(v) + ' bit/s';
		while (i < units.length - 1 && shown(v) >= 1000) {
			v /= 1000;
			i++;
		}
		return v.toFixed(v < 10 ? 2 : v < 100 ? 1 : 0) + ' ' + units[i];
	},

	/** Local date and time of epoch seconds: "2026-12-04 00:00". */
	time: function(t, withTime) {
		var d = new Date(t * 1000);
		var s = d.getFullYear() + '-' + pad(d.getMonth() + 1) + '-' + pad(d.getDate());
		return withTime ? s + ' ' + pad(d.getHours()) + ':' + pad(d.getMinutes()) : s;
	},

	/** A period as people read it: its name and the days it covers (end is the first second after). */
	period: function(p) {
		if (!p)
			return _('no accounting period (periods are kept only when enabled)');
		var from = this.time(p.start, false), to = this.time(p.end - 1, false);
		return from === to ? p.name : _('%s (%s to %s)').format(p.name, from, to);
	},

	/** A share (0 to 1) as a percentage: "12.5 %". */
	percent: function(v) {
		return (v * 100).toFixed(1) + ' %';
	},

	/** The kinds of split (`family`, `service`) any of `objs` (hosts of status or usage) carries, in that order. */
	splitKinds: function(objs) {
		return SPLITS.filter(function(k) {
			return objs.some(function(o) { return o != null && o[k.field] != null && typeof o[k.field] === 'object'; });
		}).map(function(k) { return k.by; });
	},

	/** One host's parts of kind `by`, in the JSON's order (the config's classes, then other, then unsplit): [{ name, rx_bytes, rx_packets, tx_bytes, tx_packets }]. */
	partsOf: function(o, by) {
		var m = o && fieldOf(by) ? o[fieldOf(by)] : null;
		if (m == null || typeof m !== 'object')
			return [];
		return Object.keys(m).map(function(name) {
			var p = m[name] || {};
			return { name: name, rx_bytes: +p.rx_bytes || 0, rx_packets: +p.rx_packets || 0, tx_bytes: +p.tx_bytes || 0, tx_packets: +p.tx_packets || 0 };
		});
	},

	/**
	 * Each part of kind `by` summed over `hosts`. The order keeps every host's
	 * (each lists only the classes it used, in the config's order, then
	 * other and unsplit): parts no host orders among themselves come in the
	 * order they were first seen.
	 */
	sumParts: function(hosts, by) {
		var sums = Object.create(null), seen = [], next = Object.create(null), before = Object.create(null), self = this;
		hosts.forEach(function(h) {
			var prev = null;
			self.partsOf(h, by).forEach(function(p) {
				var s = sums[p.name];
				if (!s) {
					s = sums[p.name] = { name: p.name, rx_bytes: 0, rx_packets: 0, tx_bytes: 0, tx_packets: 0 };
					seen.push(p.name);
					next[p.name] = Object.create(null);
					before[p.name] = 0;
				}
				s.rx_bytes += p.rx_bytes;
				s.rx_packets += p.rx_packets;
				s.tx_bytes += p.tx_bytes;
				s.tx_packets += p.tx_packets;
				if (prev !== null && prev !== p.name && !next[prev][p.name]) {
					next[prev][p.name] = true;
					before[p.name]++;
				}
				prev = p.name;
			});
		});
		// Kahn's order: a part once every part a host lists before it is out; first seen first.
		var out = [], done = Object.create(null);
		while (out.length < seen.length) {
			var pick = seen.filter(function(n) { return !done[n] && before[n] <= 0; })[0];
			if (pick == null) // hosts that disagree (not from one config): the first seen of the rest
				pick = seen.filter(function(n) { return !done[n]; })[0];
			done[pick] = true;
			out.push(sums[pick]);
			for (var n in next[pick])
				before[n]--;
		}
		return out;
	},

	/** How a part reads: the families by their names, other and unsplit in words, a service class as the config names it (text). */
	partLabel: function(by, name) {
		if (name === 'unsplit')
			return _('before the split began');
		if (by === 'family' && (name === 'ipv4' || name === 'ipv6'))
			return name === 'ipv4' ? 'IPv4' : 'IPv6';
		if (by === 'service' && name === 'other')
			return _('other');
		return String(name);
	},

	/**
	 * A table of one kind's parts (as partsOf or sumParts give them) of
	 * `whole` (whose rx/tx bytes they add up to): download, upload, total
	 * and share of the whole, then a row for the whole.
	 */
	splitTable: function(id, by, parts, whole) {
		var self = this, all = whole.rx_bytes + whole.tx_bytes;
		var title = by === 'family' ? _('IP family') : _('Service');
		var hints = {
			unsplit: _('What iptmon counted before it began to split this traffic'),
			other: by === 'service' ? _('Traffic of no service class') : null
		};
		var row = function(attrs, label, p) {
			var t = p.rx_bytes + p.tx_bytes, share = all ? t / all : 0;
			return E('tr', attrs, [
				E('td', { 'class': 'td', 'data-title': title, 'style': 'overflow-wrap:anywhere' }, [ label ]),
				self.num(_('Download'), p.tx_bytes, self.bytes(p.tx_bytes)),
				self.num(_('Upload'), p.rx_bytes, self.bytes(p.rx_bytes)),
				self.num(_('Total'), t, self.bytes(t)),
				self.num(_('Share'), share, self.percent(share))
			]);
		};
		return E('table', { 'class': 'table cbi-section-table', 'id': id, 'data-by': by }, [
			E('tr', { 'class': 'tr table-titles' }, [ title, _('Download'), _('Upload'), _('Total'), _('Share') ].map(function(t) { return E('th', { 'class': 'th' }, [ t ]); }))
		].concat(parts.map(function(p) {
			return row({ 'class': 'tr', 'data-part': p.name },
				E('span', { 'title': Object.prototype.hasOwnProperty.call(hints, p.name) ? hints[p.name] : null }, [ self.partLabel(by, p.name) ]), p);
		}), [
			row({ 'class': 'tr', 'id': id + '-total' }, E('strong', {}, [ _('All parts') ]), whole)
		]));
	},

	/** One colour per host key, whatever its rank: a hue from a well-mixed hash of the key (FNV-1a, then murmur3's finaliser), so keys a character apart differ. */
	color: function(key) {
		var h = 0x811c9dc5;
		for (var i = 0; i < key.length; i++)
			h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
		h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
		h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
		h = (h ^ (h >>> 16)) >>> 0;
		return 'hsl(' + (h % 360) + ',70%,' + (42 + (h >>> 9) % 12) + '%)';
	},

	/** A number cell: its title for narrow screens, its raw value for sorting and scripts. */
	num: function(title, value, text) {
		return E('td', { 'class': 'td', 'data-title': title, 'data-value': value == null ? '' : String(value), 'style': 'white-space:nowrap' }, [ text ]);
	},

	/** Link to one host's view; the name is a text node. */
	hostLink: function(key, name) {
		return E('a', { 'href': L.url('admin/status/iptmon_host') + '?key=' + encodeURIComponent(key) }, [ String(name) ]);
	},

	/** Compares by `get` (numbers or strings), missing values last, ties by name then key. */
	compare: function(get, desc) {
		return function(a, b) {
			var x = get(a), y = get(b);
			if (x !== y) {
				if (x == null) return 1;
				if (y == null) return -1;
				var c = typeof x === 'string' ? x.localeCompare(y) : x - y;
				if (c)
					return desc ? -c : c;
			}
			return String(a.name).localeCompare(String(b.name)) || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0);
		};
	},

	/** The sort after a click on column `id`: the same column turns around; another starts highest first (names: A first). */
	nextSort: function(sort, id) {
		return sort.col === id ? { col: id, desc: !sort.desc } : { col: id, desc: id !== 'name' };
	},

	/** A table header whose click sorts by `id`; aria-sort says how it is sorted. */
	sortHeader: function(id, title, sort, onSort) {
		var dir = sort.col === id ? (sort.desc ? 'descending' : 'ascending') : 'none';
		return E('th', {
			'class': 'th', 'data-sort': id, 'aria-sort': dir, 'tabindex': '0', 'style': 'cursor:pointer',
			'click': function() { onSort(id); },
			'keydown': function(ev) { if (ev.key === 'Enter' || ev.key === ' ') { ev.preventDefault(); onSort(id); } }
		}, [ title, dir === 'none' ? '' : (dir === 'ascending' ? ' \u25b4' : ' \u25be') ]);
	},

	/** One CSV cell: quoted; a leading = + - @ (or tab, CR) gets a ' so no spreadsheet runs it as a formula. */
	csvCell: function(v) {
		var s = v == null ? '' : String(v);
		if (typeof v !== 'number' && /^[=+\-@\t\r]/.test(s))
			s = "'" + s;
		return /[",\r\n']/.test(s) || typeof v !== 'number' ? '"' + s.replace(/"/g, '""') + '"' : s;
	},

	csv: function(rows) {
		var self = this;
		return rows.map(function(r) { return r.map(function(c) { return self.csvCell(c); }).join(','); }).join('\r\n') + '\r\n';
	},

	/** Offers `text` as a file download (a Blob behind a link). */
	download: function(name, type, text) {
		var url = URL.createObjectURL(new Blob([ text ], { type: type }));
		var a = E('a', { 'href': url, 'download': name, 'style': 'display:none' }, []);
		document.body.appendChild(a);
		a.click();
		document.body.removeChild(a);
		window.setTimeout(function() { URL.revokeObjectURL(url); }, 1000);
	},

	/** The width, in CSS pixels, a chart is drawn at: its box once shown, else the page's content width. */
	chartWidth: function(node) {
		var w = node && node.clientWidth;
		if (!w) {
			var main = document.getElementById('maincontent') || document.body;
			w = main.clientWidth - 40;
		}
		return Math.max(280, Math.min(1400, Math.round(w)));
	},

	/** An SVG element (E() makes HTML ones). */
	svg: function(tag, attrs, children) {
		var el = document.createElementNS('http://www.w3.org/2000/svg', tag);
		for (var k in attrs)
			if (attrs[k] != null)
				el.setAttribute(k, attrs[k]);
		(children || []).forEach(function(c) {
			el.appendChild(typeof c === 'object' ? c : document.createTextNode(String(c)));
		});
		return el;
	},

	/** A legend entry: colour swatch and the host's name as text. */
	swatch: function(key, name) {
		return E('span', { 'style': 'display:inline-flex;align-items:center;margin-right:1em;white-space:nowrap;max-width:100%;overflow:hidden;text-overflow:ellipsis', 'data-key': key }, [
			E('span', { 'style': 'display:inline-block;width:.8em;height:.8em;margin-right:.3em;border-radius:2px;flex:none;background:' + this.color(key) }, []),
			String(name)
		]);
	}
});
