'use strict';
'require baseclass';
'require fs';

// What the iptmon views share: the command they run, how numbers read (the
// same rules as the binary's own src/top/format.ts; a unit test compares
// them), one colour per host key, sorting, CSV, and cells built from text
// nodes only: host names are whatever a DHCP client sent, so they are never
// markup. (LuCI's E() sets innerHTML when a child is a bare string; every
// child here is passed in an array, which E() turns into text nodes.)

var CMD = '/usr/sbin/iptmon';

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
