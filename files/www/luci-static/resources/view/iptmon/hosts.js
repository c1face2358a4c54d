'use strict';
'require view';

// Status -> Hosts' traffic (iptmon): the page /iptmon/ (files/www/iptmon),
// framed inside LuCI. It reads /cgi-bin/iptmon-hosts itself, which answers
// 403 until iptmon.prometheus.enabled is 1.
return view.extend({
	render: function() {
		return E('div', {}, [
			E('iframe', {
				'src': '/iptmon/',
				'title': _("Hosts' traffic (iptmon)"),
				'style': 'width:100%;min-height:80vh;border:0'
			}),
			E('p', {}, [ E('a', { 'href': '/iptmon/', 'target': '_blank' }, _('Open in its own window')) ])
		]);
	},

	handleSaveApply: null,
	handleSave: null,
	handleReset: null
});
