'use strict';
'require view';
'require form';

// Services -> iptmon: the `config iptmon` section, the service classes
// (`config service`) and the HTTP export's opt-in (`config prometheus`) of
// /etc/config/iptmon. Every range, choice and
// name rule here is the binary's own (src/config.ts, GLOBAL_OPTIONS);
// test/unit/luci-settings.test.ts fails when the two drift apart.

// A network device's name, as iptmon reads it (src/model.ts DEVICE_NAME).
var DEVICE = /^[A-Za-z0-9_.-]{1,15}$/;
// An OpenWrt network's name, as iptmon reads it.
var NAME = /^[A-Za-z0-9_.-]{1,64}$/;
// address/prefix (a bare address is a /32 or /128), IPv4 or IPv6.
var SUBNET4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}(\/(3[0-2]|[12]?\d))?$/;
var SUBNET6 = /^[0-9A-Fa-f:]*:[0-9A-Fa-f:.]*(\/(12[0-8]|1[01]\d|[1-9]?\d))?$/;

// A service class's name and one `list match` (src/split/services.ts); names
// iptmon gives parts itself are not classes'.
// (the binary would clean '.' and '-' off either end, with a warning).
var SERVICE_NAME = /^[A-Za-z0-9_]([A-Za-z0-9._-]{0,61}[A-Za-z0-9_])?$/;
var RESERVED = ['other', 'unsplit', 'ipv4', 'ipv6'];
var MATCH = /^(tcp|udp)\/([0-9]{1,5})(-([0-9]{1,5}))?$/;

function portRange(value) {
	var m = MATCH.exec(value);
	if (!m) return null;
	var lo = +m[2], hi = m[4] == null ? lo : +m[4];
	return lo >= 1 && hi <= 65535 && lo <= hi ? [lo, hi] : null;
}

function matching(re, what) {
	return function(sid, value) {
		return value == null || value === '' || re.test(value) ? true : what;
	};
}

return view.extend({
	render: function() {
		var m, s, o;

		m = new form.Map('iptmon', _('iptmon'),
			_('Per-host traffic accounting. Changes take effect with "Save & Apply", which reloads iptmon.'));

		s = m.section(form.TypedSection, 'iptmon', _('Accounting'));
		s.anonymous = true;
		s.addremove = false;

		s.tab('general', _('General'));
		s.tab('periods', _('Usage periods'));
		s.tab('lan', _('LAN scope'));
		s.tab('split', _('Split'));

		o = s.taboption('general', form.Flag, 'enabled', _('Enabled'), _('Count every LAN host\'s traffic.'));
		o.default = '1';
		o.rmempty = false;

		o = s.taboption('general', form.ListValue, 'hook', _('Where nftables counts'),
			_('At the LAN ports (by MAC; also sees offloaded flows) or in the forward hook (by address). "auto" picks the ports when it can.'));
		o.value('auto', _('auto'));
		o.value('ports', _('LAN ports'));
		o.value('forward', _('forward hook'));
		o.default = 'auto';

		o = s.taboption('periods', form.ListValue, 'period', _('Accounting period'));
		o.value('month', _('month'));
		o.value('week', _('week'));
		o.value('day', _('day'));
		o.default = 'month';

		o = s.taboption('periods', form.Value, 'period_start', _('Period starts on'),
			_('Months: the day of the month a period begins on (1 to 28). Weeks: the weekday, 1 (Monday) to 7 (Sunday). Days: unused.'));
		o.datatype = 'and(uinteger,range(1,28))';
		o.placeholder = '1';

		o = s.taboption('periods', form.Value, 'periods_kept', _('Periods kept'), _('How many periods\' usage to keep (1 to 1000).'));
		o.datatype = 'and(uinteger,range(1,1000))';
		o.placeholder = '12';

		o = s.taboption('periods', form.Value, 'persist_dir', _('Persistent copy in'),
			_('A directory on flash or disk where the usage survives a reboot. Empty: kept in RAM only.'));
		o.validate = matching(/^[^\0]+$/, _('A path is required'));
		o.placeholder = '/etc/iptmon';

		o = s.taboption('periods', form.Value, 'persist_interval', _('Copy at most every (minutes)'),
			_('Writes to flash wear it: 1 to 44640 minutes (31 days).'));
		o.datatype = 'and(uinteger,range(1,44640))';
		o.placeholder = '1440';

		o = s.taboption('lan', form.DynamicList, 'network', _('LAN networks'), _('OpenWrt networks whose devices and subnets are the LAN (e.g. lan).'));
		o.validate = matching(NAME, _('A network name of letters, digits, _ . -'));

		o = s.taboption('lan', form.DynamicList, 'lan_interface', _('LAN devices'), _('Devices whose hosts are counted (default: br-lan).'));
		o.validate = matching(DEVICE, _('A device name: letters, digits, _ . -, at most 15 characters'));
		o.placeholder = 'br-lan';

		o = s.taboption('lan', form.DynamicList, 'lan_subnet', _('LAN subnets'), _('Subnets whose hosts are counted, as address/prefix. Given alone, they replace the br-lan default.'));
		o.validate = function(sid, value) {
			return value == null || value === '' || SUBNET4.test(value) || SUBNET6.test(value) ? true : _('A subnet as address/prefix, e.g. 192.168.1.0/24');
		};

		o = s.taboption('split', form.MultiValue, 'breakdown', _('Split each host\'s traffic'),
			_('By IP family (IPv4, IPv6) and/or by service (the classes below), counted by the kernel. Each packet of a split host costs a little more (see BENCHMARKS.md).'));
		o.value('family', _('IP family'));
		o.value('service', _('service'));

		s = m.section(form.GridSection, 'service', _('Service classes'),
			_('A class per kind of traffic, told by the remote side\'s protocol and port. Without any, iptmon uses its built-in list (web, quic, dns, dns-tls, mail, ssh, vpn, ntp, streaming, calls, games, p2p). Traffic of no class is "other".'));
		s.anonymous = true;
		s.addremove = true;
		s.sortable = true;

		o = s.option(form.Value, 'name', _('Name'));
		o.rmempty = false;
		o.validate = function(sid, value) {
			if (!SERVICE_NAME.test(value || '')) return _('Letters, digits, _ . -, at most 63 characters, not beginning or ending with . or -');
			return RESERVED.indexOf(value.toLowerCase()) < 0 ? true : _('iptmon names that part itself');
		};

		o = s.option(form.DynamicList, 'match', _('Protocol/port'), _('tcp/PORT, udp/PORT or tcp/LOW-HIGH, e.g. tcp/443 or udp/27000-27100.'));
		o.rmempty = false;
		o.validate = function(sid, value) {
			return value == null || value === '' || portRange(value) ? true : _('tcp/PORT, udp/PORT or a range tcp/LOW-HIGH');
		};

		s = m.section(form.TypedSection, 'prometheus', _('HTTP export'),
			_('Warning: this serves every host\'s traffic as Prometheus metrics over HTTP to the whole LAN, without a login. Turn it on only where everyone on the LAN may see it.'));
		s.anonymous = true;
		s.addremove = true;

		o = s.option(form.Flag, 'enabled', _('Serve metrics over HTTP'));
		o.default = '1';
		o.rmempty = false;

		return m.render();
	}
});
