/*
 * ModulePbxFederation admin page: settings form, peers table with status dots polled from the
 * module's REST action "status", and the "Apply now", "Check connection" and preview buttons.
 * Plain ES2015 (no build step); globals come from MikoPBX's admin cabinet.
 */
/* global globalRootUrl, globalTranslate, globalWebAdminLanguage, Config, Form, $ */

const ModulePbxFederationIndex = {
	apiRoot: `${typeof Config !== 'undefined' ? Config.pbxUrl : ''}/pbxcore/api/modules/ModulePbxFederation/`,
	pollMs: 5000,
	timer: null,
	$form: $('#module-pbx-federation-form'),
	$message: $('#pbx-federation-message'),

	initialize() {
		$('#module-pbx-federation-form .ui.checkbox').checkbox();
		Form.$formObj = ModulePbxFederationIndex.$form;
		Form.url = `${globalRootUrl}module-pbx-federation/module-pbx-federation/save`;
		Form.validateRules = {};
		Form.cbBeforeSendForm = (settings) => {
			const result = settings;
			result.data = ModulePbxFederationIndex.$form.form('get values');
			return result;
		};
		Form.cbAfterSendForm = () => {};
		Form.initialize();

		$('#pbx-federation-apply').on('click', (e) => {
			e.preventDefault();
			ModulePbxFederationIndex.call('apply', {}, (answer) => {
				ModulePbxFederationIndex.showMessages(answer);
				ModulePbxFederationIndex.poll();
			});
		});
		$('#pbx-federation-preview').on('click', (e) => {
			e.preventDefault();
			ModulePbxFederationIndex.call('preview', {}, ModulePbxFederationIndex.showPreview);
		});
		$('.pbxfed-check').on('click', (e) => {
			e.preventDefault();
			const $row = $(e.currentTarget).closest('tr');
			$(e.currentTarget).addClass('loading');
			ModulePbxFederationIndex.call('check', { name: $row.data('name') }, (answer) => {
				$(e.currentTarget).removeClass('loading');
				ModulePbxFederationIndex.showMessages(answer);
				ModulePbxFederationIndex.poll();
			});
		});
		$('#pbx-federation-invite').on('click', (e) => {
			e.preventDefault();
			const data = {
				address: $('#pbx-federation-invite-address').val(),
				from: $('#pbx-federation-invite-from').val(),
			};
			ModulePbxFederationIndex.call('invite', data, (answer) => {
				$('#pbx-federation-invitation').val(((answer.data || {}).invitation) || '');
				ModulePbxFederationIndex.showMessages(answer);
			});
		});
		$('#pbx-federation-accept').on('click', (e) => {
			e.preventDefault();
			const data = { invitation: $('#pbx-federation-accept-text').val() };
			ModulePbxFederationIndex.call('accept', data, (answer) => {
				ModulePbxFederationIndex.showMessages(answer);
				if (answer.result) {
					window.location.reload();
				}
			});
		});
		ModulePbxFederationIndex.poll();
	},

	call(action, data, onDone) {
		$.ajax({
			url: ModulePbxFederationIndex.apiRoot + action,
			method: 'POST',
			data,
			dataType: 'json',
			timeout: 15000,
		}).done((answer) => onDone(answer || {}))
			.fail(() => onDone({ result: false, messages: { error: [globalTranslate.module_pbx_federation_WorkerTimeout] } }));
	},

	poll() {
		clearTimeout(ModulePbxFederationIndex.timer);
		ModulePbxFederationIndex.call('status', {}, (answer) => {
			ModulePbxFederationIndex.renderStatus(answer.data || {});
			ModulePbxFederationIndex.timer = setTimeout(ModulePbxFederationIndex.poll, ModulePbxFederationIndex.pollMs);
		});
	},

	/** Accepts peers as a list of {name, ...} or an object keyed by name. */
	peersOf(status) {
		const peers = status.peers || {};
		if (Array.isArray(peers)) {
			const byName = {};
			peers.forEach((p) => { byName[String(p.name || '').toLowerCase()] = p; });
			return byName;
		}
		const byName = {};
		Object.keys(peers).forEach((name) => { byName[name.toLowerCase()] = peers[name]; });
		return byName;
	},

	/** ok / true -> green, failed / false -> red, disabled -> grey, anything else -> yellow "no data". */
	color(value) {
		const state = (value && typeof value === 'object') ? (value.state || value.status || value.ok) : value;
		if (state === true || state === 'ok' || state === 'reachable' || state === 'applied') return 'green';
		if (state === false || state === 'failed' || state === 'error' || state === 'unreachable') return 'red';
		if (state === 'disabled') return 'grey';
		return 'yellow';
	},

	problemText(problem) {
		const lang = (typeof globalWebAdminLanguage !== 'undefined' && String(globalWebAdminLanguage).startsWith('en')) ? 'en' : 'ru';
		if (problem.message && typeof problem.message === 'object' && problem.message[lang]) return problem.message[lang];
		const key = `module_pbx_federation_${problem.code}`;
		return globalTranslate[key] || problem.code || '';
	},

	renderStatus(status) {
		const peers = ModulePbxFederationIndex.peersOf(status);
		$('#pbx-federation-peers-table tr.peer-row').each((i, row) => {
			const $row = $(row);
			const peer = peers[String($row.data('name')).toLowerCase()] || {};
			// The worker's status: reachability (reachable|unreachable|unknown) from the trunk's qualify,
			// planned/applied per peer, disabled peers; the last apply result is station-wide.
			let lastApply = peer.apply || peer.last_apply;
			if (lastApply === undefined && peer.planned !== undefined) {
				if (peer.disabled) lastApply = 'disabled';
				else lastApply = (peer.planned && peer.applied) ? 'applied' : 'failed';
			}
			const dots = { trunk: peer.trunk || peer.reachability, blf: peer.blf, apply: lastApply };
			Object.keys(dots).forEach((kind) => {
				$row.find(`.pbxfed-dot[data-kind="${kind}"] i`)
					.attr('class', `${ModulePbxFederationIndex.color(dots[kind])} circle icon`);
			});
			const rtt = peer.rtt_ms !== undefined ? peer.rtt_ms : peer.rtt;
			$row.find('.pbxfed-rtt').text(rtt === undefined || rtt === null ? '—' : `${rtt} ms`);
			const $problems = $row.find('.pbxfed-problems').empty();
			(peer.problems || []).forEach((problem) => {
				const warning = String(problem.code || '').startsWith('W_');
				$('<div>').addClass(`ui tiny ${warning ? 'orange' : 'red'} basic label`)
					.text(ModulePbxFederationIndex.problemText(problem)).appendTo($problems);
			});
		});
	},

	showMessages(answer) {
		const messages = answer.messages || {};
		const errors = [].concat(messages.error || []);
		const warnings = [].concat(messages.warning || []);
		const $m = ModulePbxFederationIndex.$message.removeClass('hidden positive negative warning').empty();
		if (errors.length) {
			$m.addClass('negative');
		} else if (warnings.length) {
			$m.addClass('warning');
		} else {
			$m.addClass(answer.result ? 'positive' : 'hidden');
		}
		errors.concat(warnings).forEach((text) => $('<p>').text(text).appendTo($m));
	},

	showPreview(answer) {
		const data = answer.data || {};
		const fill = ($list, items) => {
			$list.empty();
			(items || []).forEach((item) => {
				// the worker's dry run: {op, table, key: [...], peer}
				const text = typeof item === 'string' ? item
					: `${item.table || ''} ${(item.key || []).join(' / ')}${item.peer ? ` (${item.peer})` : ''}`.trim();
				$('<div class="item">').text(text).appendTo($list);
			});
			if (!(items || []).length) {
				$('<div class="item">').text(globalTranslate.module_pbx_federation_PreviewNothing).appendTo($list);
			}
		};
		fill($('#pbx-federation-preview-create'), data.create || data.created || data.add);
		fill($('#pbx-federation-preview-remove'), data.remove || data.removed || data.delete);
		ModulePbxFederationIndex.showMessages(answer);
		$('#pbx-federation-preview-modal').modal('show');
	},
};

$(document).ready(() => {
	ModulePbxFederationIndex.initialize();
});
