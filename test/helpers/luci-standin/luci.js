/*
 * A small stand-in for LuCI's client runtime, enough to load iptmon's views
 * in a plain browser page: L, E, _, String.prototype.format, the module loader
 * for 'require' lines, and the classes the views use (baseclass, view, dom,
 * poll, fs, ui, uci, form). It follows LuCI's documented behaviour where the
 * views depend on it — notably E()/dom.append: a child given as a bare string
 * is set as innerHTML, children in an array become text nodes — so a view that
 * passed a host name the wrong way would show markup here too.
 *
 * The page talks to the test's server: POST /exec runs a command line
 * (answered from the real binary), GET/POST /uci/<config> reads the config's
 * sections and records saved changes. window.standin exposes what the test
 * drives and reads: tick() runs every poll now, the exec log (bytes per
 * answer), modals, notifications, applied changes.
 */
(function () {
	'use strict';

	var log = { exec: [], saved: [], applied: [], notifications: [] };

	/* ---------------------------------------------------------------- classes */

	var Class = function () {};
	Class.extend = function (props) {
		var Parent = this;
		var C = function () {
			if (typeof this.__init__ === 'function')
				this.__init__.apply(this, arguments);
		};
		C.prototype = Object.create(Parent.prototype);
		for (var k in props)
			if (Object.prototype.hasOwnProperty.call(props, k))
				C.prototype[k] = props[k];
		C.prototype.constructor = C;
		C.extend = Class.extend;
		C.instantiate = function (args) { return new (Function.prototype.bind.apply(C, [ null ].concat(args || [])))(); };
		C.isSubclass = function (v) { return typeof v === 'function' && v.prototype instanceof C; };
		return C;
	};
	Class.prototype.super = function (key, args) {
		var p = Object.getPrototypeOf(Object.getPrototypeOf(this));
		return typeof p[key] === 'function' ? p[key].apply(this, args || []) : p[key];
	};
	Class.singleton = function (props) { return new (Class.extend(props))(); };

	/* ---------------------------------------------------------------- dom */

	var dom = {
		elem: function (e) { return e != null && typeof e === 'object' && 'nodeType' in e; },
		append: function (node, children) {
			if (!this.elem(node))
				return null;
			if (Array.isArray(children)) {
				for (var i = 0; i < children.length; i++) {
					if (this.elem(children[i]))
						node.appendChild(children[i]);
					else if (children[i] != null)
						node.appendChild(document.createTextNode('' + children[i]));
				}
				return node.lastChild;
			}
			if (typeof children === 'function')
				return this.append(node, children(node));
			if (this.elem(children))
				return node.appendChild(children);
			if (children != null) {
				node.innerHTML = '' + children; // as LuCI does: a bare string is markup
				return node.lastChild;
			}
			return null;
		},
		content: function (node, children) {
			if (!this.elem(node))
				return null;
			while (node.firstChild)
				node.removeChild(node.firstChild);
			return this.append(node, children);
		},
		attr: function (node, key, val) {
			var attr = typeof key === 'object' && key !== null ? key : (function () { var o = {}; o[key] = val; return o; })();
			for (var k in attr) {
				if (!Object.prototype.hasOwnProperty.call(attr, k) || attr[k] == null)
					continue;
				if (typeof attr[k] === 'function')
					node.addEventListener(k, attr[k]);
				else if (typeof attr[k] === 'object')
					node.setAttribute(k, JSON.stringify(attr[k]));
				else
					node.setAttribute(k, attr[k]);
			}
		},
		create: function (html, attr, data) {
			if (!(attr instanceof Object) || Array.isArray(attr))
				data = attr, attr = null;
			var elem;
			if (this.elem(html))
				elem = html;
			else if (html.charCodeAt(0) === 60) {
				var d = document.createElement('div');
				d.innerHTML = html;
				elem = d.firstChild;
			}
			else
				elem = document.createElement(html);
			this.attr(elem, attr);
			this.append(elem, data);
			return elem;
		}
	};

	/* ---------------------------------------------------------------- L, E, _ */

	String.prototype.format = function () {
		var args = arguments, i = 0;
		return String(this).replace(/%([sdf%])/g, function (m, t) {
			if (t === '%')
				return '%';
			var v = args[i++];
			return t === 'd' ? String(Math.floor(+v || 0)) : String(v);
		});
	};

	var env = window.standinEnv || {};

	var L = {
		env: env,
		url: function () { return '/cgi-bin/luci/' + Array.prototype.join.call(arguments, '/'); },
		resource: function () { return '/luci-static/resources/' + Array.prototype.join.call(arguments, '/'); },
		bind: function (fn, self) { var a = Array.prototype.slice.call(arguments, 2); return function () { return fn.apply(self, a.concat(Array.prototype.slice.call(arguments))); }; },
		resolveDefault: function (p, d) { return Promise.resolve(p).catch(function () { return d; }); },
		isObject: function (v) { return v != null && typeof v === 'object'; },
		hasViewPermission: function () { return env.readonly ? false : true; },
		error: function (type, msg) { throw new Error(type + ': ' + msg); }
	};
	window.L = L;
	window.E = function () { return dom.create.apply(dom, arguments); };
	window._ = function (s) { return s; };
	window.N_ = function (n, a, b) { return n === 1 ? a : b; };

	/* ---------------------------------------------------------------- fs, poll */

	function post(url, body) {
		return fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
	}

	var fs = Class.singleton({
		exec_direct: function (cmd, args, type) {
			var entry = { cmd: cmd, args: args, bytes: 0, start: performance.now(), end: 0 };
			log.exec.push(entry);
			return post('/exec', { cmd: cmd, args: args || [] }).then(function (r) {
				return r.text().then(function (t) {
					entry.bytes = new TextEncoder().encode(t).length;
					entry.end = performance.now();
					if (!r.ok)
						throw new Error('exec failed: ' + r.status + ' ' + t);
					return type === 'json' ? JSON.parse(t) : t;
				});
			});
		},
		exec: function (cmd, args) {
			log.exec.push({ cmd: cmd, args: args, bytes: 0, write: true });
			return post('/exec', { cmd: cmd, args: args || [], buffered: true }).then(function (r) { return r.json(); });
		}
	});

	var polls = [];
	var poll = Class.singleton({
		add: function (fn, interval) { polls.push({ fn: fn, interval: interval }); return fn; },
		remove: function (fn) { polls = polls.filter(function (p) { return p.fn !== fn; }); },
		start: function () {}, stop: function () {}, active: function () { return true; }
	});

	/* ---------------------------------------------------------------- uci */

	var uciData = {}, uciChanges = [];
	var uci = Class.singleton({
		load: function (conf) {
			return fetch('/uci/' + conf).then(function (r) { return r.json(); }).then(function (sections) { uciData[conf] = sections; return [ conf ]; });
		},
		sections: function (conf, type, cb) {
			var list = (uciData[conf] || []).filter(function (s) { return !type || s['.type'] === type; });
			if (cb) list.forEach(cb);
			return list;
		},
		get: function (conf, sid, opt) {
			var s = (uciData[conf] || []).filter(function (x) { return x['.name'] === sid; })[0];
			return s ? (opt == null ? s : s[opt]) : null;
		},
		set: function (conf, sid, opt, val) {
			var s = (uciData[conf] || []).filter(function (x) { return x['.name'] === sid; })[0];
			if (!s) return;
			if (val == null || val === '') delete s[opt]; else s[opt] = val;
			uciChanges.push([ 'set', conf, sid, opt, val ]);
		},
		unset: function (conf, sid, opt) { this.set(conf, sid, opt, null); },
		add: function (conf, type, name) {
			var sid = name || ('new' + Math.random().toString(16).slice(2, 8));
			(uciData[conf] = uciData[conf] || []).push({ '.name': sid, '.type': type, '.anonymous': !name });
			uciChanges.push([ 'add', conf, sid, type ]);
			return sid;
		},
		remove: function (conf, sid) {
			uciData[conf] = (uciData[conf] || []).filter(function (x) { return x['.name'] !== sid; });
			uciChanges.push([ 'remove', conf, sid ]);
		},
		save: function () {
			var changes = uciChanges;
			uciChanges = [];
			log.saved.push(changes);
			return Promise.all(Object.keys(uciData).map(function (conf) { return post('/uci/' + conf, uciData[conf]); })).then(function () { return changes; });
		}
	});

	/* ---------------------------------------------------------------- ui */

	var modal = null;
	var ui = Class.singleton({
		showModal: function (title, children) {
			this.hideModal();
			modal = E('div', { 'id': 'modal_overlay', 'class': 'modal-overlay' }, [
				E('div', { 'class': 'modal', 'role': 'dialog' }, [ E('h4', {}, [ title ]) ].concat(children))
			]);
			document.body.appendChild(modal);
			return modal;
		},
		hideModal: function () {
			if (modal && modal.parentNode) modal.parentNode.removeChild(modal);
			modal = null;
		},
		addNotification: function (title, children, cls) {
			var n = E('div', { 'class': 'alert-message ' + (cls || '') }, [ title ? E('h4', {}, [ title ]) : '' ].concat([ children ]));
			log.notifications.push({ cls: cls || '', text: n.textContent });
			var main = document.getElementById('maincontent');
			main.insertBefore(n, main.firstChild);
			return n;
		},
		changes: {
			init: function () {},
			apply: function (checked) { log.applied.push(checked); return Promise.resolve(); }
		}
	});
	ui.hideModal = ui.hideModal.bind(ui);

	/* ---------------------------------------------------------------- form (settings) */

	var datatypes = {
		uinteger: function (v) { return /^\d+$/.test(v); },
		range: function (v, a, b) { return !isNaN(+v) && +v >= +a && +v <= +b; }
	};
	/** LuCI's datatype expressions the views use: and(x,y), range(a,b), uinteger. */
	function checkType(expr, v) {
		var m = /^(\w+)(?:\((.*)\))?$/.exec(expr);
		if (!m) return false;
		if (m[1] === 'and' || m[1] === 'or') {
			var parts = [], depth = 0, cur = '';
			for (var i = 0; i < m[2].length; i++) {
				var c = m[2][i];
				if (c === ',' && depth === 0) { parts.push(cur); cur = ''; continue; }
				if (c === '(') depth++;
				if (c === ')') depth--;
				cur += c;
			}
			parts.push(cur);
			return m[1] === 'and' ? parts.every(function (p) { return checkType(p, v); }) : parts.some(function (p) { return checkType(p, v); });
		}
		var f = datatypes[m[1]];
		if (!f) throw new Error('stand-in: unknown datatype ' + m[1]);
		return f.apply(null, [ v ].concat(m[2] ? m[2].split(',') : []));
	}

	var AbstractValue = Class.extend({
		__init__: function (map, section, option, title, description) {
			this.map = map; this.section = section; this.option = option; this.title = title; this.description = description;
			this.choices = []; this.deps = [];
		},
		value: function (k, label) { this.choices.push([ k, label == null ? k : label ]); },
		depends: function (d) { this.deps.push(d); },
		check: function (sid, v) {
			var vals = Array.isArray(v) ? v : [ v ];
			for (var i = 0; i < vals.length; i++) {
				if (vals[i] === '' || vals[i] == null) continue;
				if (this.datatype && !checkType(this.datatype, vals[i])) return _('Expecting: %s').format(this.datatype);
				if (this.validate) { var r = this.validate(sid, vals[i]); if (r !== true) return r; }
			}
			return true;
		},
		widget: function (sid, cur) {
			var self = this, id = 'widget.cbid.' + this.map.config + '.' + sid + '.' + this.option, input;
			if (this.kind === 'flag')
				input = E('input', { 'type': 'checkbox', 'id': id, 'checked': (cur == null ? this.default : cur) === '1' ? '' : null });
			else if (this.kind === 'list') {
				input = E('select', { 'id': id, 'class': 'cbi-input-select' }, this.choices.map(function (c) {
					return E('option', { 'value': c[0], 'selected': (cur == null ? self.default : cur) === c[0] ? '' : null }, [ c[1] ]);
				}));
			}
			else if (this.kind === 'multi') {
				var on = Array.isArray(cur) ? cur : (cur ? String(cur).split(/\s+/) : []);
				input = E('select', { 'id': id, 'class': 'cbi-input-select', 'multiple': '' }, this.choices.map(function (c) {
					return E('option', { 'value': c[0], 'selected': on.indexOf(c[0]) >= 0 ? '' : null }, [ c[1] ]);
				}));
			}
			else if (this.kind === 'dynlist')
				input = E('textarea', { 'id': id, 'class': 'cbi-input-textarea', 'rows': '2', 'placeholder': this.placeholder || null }, [ (cur || []).join('\n') ]);
			else
				input = E('input', { 'type': 'text', 'id': id, 'class': 'cbi-input-text', 'value': cur == null ? '' : cur, 'placeholder': this.placeholder || null });
			input.setAttribute('data-option', this.option);
			return E('div', { 'class': 'cbi-value', 'data-name': this.option }, [
				E('label', { 'class': 'cbi-value-title', 'for': id }, [ this.title ]),
				E('div', { 'class': 'cbi-value-field' }, [ input, this.description ? E('div', { 'class': 'cbi-value-description' }, [ this.description ]) : '' ])
			]);
		}
	});
	var Flag = AbstractValue.extend({ kind: 'flag' });
	var ListValue = AbstractValue.extend({ kind: 'list' });
	var Value = AbstractValue.extend({ kind: 'value' });
	var DynamicList = AbstractValue.extend({ kind: 'dynlist' });
	var MultiValue = AbstractValue.extend({ kind: 'multi' });

	var TypedSection = Class.extend({
		__init__: function (map, type, title, description) { this.map = map; this.sectiontype = type; this.title = title; this.description = description; this.children = []; this.tabs = []; },
		tab: function (name, title) { this.tabs.push([ name, title ]); },
		option: function (cls, name, title, description) { var o = new cls(this.map, this, name, title, description); this.children.push(o); return o; },
		taboption: function (tab, cls, name, title, description) { var o = this.option(cls, name, title, description); o.tab = tab; return o; }
	});
	var NamedSection = TypedSection;
	// A grid is a typed section laid out as a table; the stand-in lists its sections as the others.
	var GridSection = TypedSection;

	var FormMap = Class.extend({
		__init__: function (config, title, description) { this.config = config; this.title = title; this.description = description; this.children = []; },
		section: function (cls, type, title, description) { var s = new cls(this, type, title, description); this.children.push(s); return s; },
		render: function () {
			var self = this;
			return uci.load(this.config).then(function () {
				var readonly = L.hasViewPermission() !== true;
				return E('div', { 'class': 'cbi-map', 'id': 'cbi-' + self.config }, [
					E('h2', {}, [ self.title ]),
					E('div', { 'class': 'cbi-map-descr' }, [ self.description || '' ])
				].concat(self.children.map(function (s) {
					var secs = uci.sections(self.config, s.sectiontype);
					return E('div', { 'class': 'cbi-section', 'data-type': s.sectiontype }, [
						E('h3', {}, [ s.title ]),
						s.description ? E('div', { 'class': 'cbi-section-descr' }, [ s.description ]) : ''
					].concat(secs.length ? secs.map(function (sec) {
						return E('div', { 'class': 'cbi-section-node', 'data-section': sec['.name'] }, s.children.map(function (o) { return o.widget(sec['.name'], sec[o.option]); }));
					}) : [ s.addremove ? E('button', { 'class': 'cbi-button cbi-button-add', 'disabled': readonly ? '' : null }, [ _('Add') ]) : E('em', {}, [ _('This section contains no values yet') ]) ]));
				})));
			});
		}
	});

	var form = { Map: FormMap, TypedSection: TypedSection, NamedSection: NamedSection, GridSection: GridSection, Flag: Flag, ListValue: ListValue, Value: Value, DynamicList: DynamicList, MultiValue: MultiValue, checkType: checkType };

	/* ---------------------------------------------------------------- view, loader */

	var view = Class.extend({
		load: function () { return Promise.resolve(); },
		render: function () { return E('div', {}, []); }
	});

	var modules = { baseclass: Class, view: view, dom: dom, fs: fs, poll: poll, ui: ui, uci: uci, form: form };
	var loading = {};

	/** As LuCI does: a module's text runs as a function of its 'require'd modules; a returned class is instantiated. */
	function require(name) {
		if (modules[name])
			return Promise.resolve(modules[name]);
		if (loading[name])
			return loading[name];
		return loading[name] = fetch(L.resource(name.replace(/\./g, '/') + '.js')).then(function (r) {
			if (!r.ok) throw new Error('cannot load ' + name + ': ' + r.status);
			return r.text();
		}).then(function (text) {
			// As LuCI reads them: the quoted strings from the top of the file, 'use strict' or
			// 'require NAME [as ALIAS]', up to the first other string (comments are not skipped).
			var deps = [], names = [], quote = -1, off = -1, esc = false;
			for (var i = 0; i < text.length; i++) {
				var c = text.charCodeAt(i);
				if (esc) { esc = false; continue; }
				if (c === 92) { esc = true; continue; }
				if (c === quote) {
					var str = text.substring(off, i), m = /^require[ \t]+(\S+)(?:[ \t]+as[ \t]+([a-zA-Z_]\S*))?$/.exec(str);
					if (m) { deps.push(m[1]); names.push(m[2] || m[1].replace(/[^a-zA-Z0-9_]/g, '_')); }
					else if (!/^use[ \t]+strict$/.test(str)) break;
					quote = -1;
				}
				else if (quote === -1 && (c === 34 || c === 39)) { quote = c; off = i + 1; }
			}
			return Promise.all(deps.map(require)).then(function (mods) {
				var factory = new Function([ 'window', 'document', 'L' ].concat(names).join(','), text);
				var C = factory.apply(null, [ window, document, L ].concat(mods));
				if (!(typeof C === 'function' && C.prototype instanceof Class))
					throw new TypeError('"' + name + '" factory yields invalid constructor');
				return modules[name] = new C();
			});
		});
	}

	window.standin = {
		log: log,
		polls: function () { return polls.length; },
		/** Runs every poll function now; resolves when all have finished. */
		tick: function () { return Promise.all(polls.map(function (p) { return Promise.resolve(p.fn()); })); },
		uci: function () { return uciData; },
		form: form,
		view: null,
		/** Loads view `name` ('iptmon/hosts') as LuCI's dispatcher does: load(), then render() into #maincontent. */
		open: function (name) {
			return require('view.' + name.replace(/\//g, '.')).then(function (v) {
				window.standin.view = v;
				return Promise.resolve(v.load()).then(function (data) { return v.render(data); });
			}).then(function (node) {
				dom.content(document.getElementById('maincontent'), [ node ]);
				document.body.setAttribute('data-ready', '1');
			}).catch(function (e) {
				document.body.setAttribute('data-error', String(e && e.stack || e));
				throw e;
			});
		}
	};
})();
