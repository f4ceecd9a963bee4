/*
 * ModulePbxFederation admin page: settings form, peers table with status dots polled from the
 * module's REST action "status", and the "Apply now", "Check connection" and preview buttons.
 * Plain ES2015 (no build step); globals come from MikoPBX's admin cabinet.
 */
/* global globalRootUrl, globalTranslate, Config, Form, $ */

const ModulePbxFederationIndex = {
	apiRoot: `${typeof Config !== 'undefined' ? Config.pbxUrl : ''}/pbxcore/api/modules/ModulePbxFederation/`,
	pollMs: 5000,
	timer: null,
	$form: $('#module-pbx-federation-form'),
	$message: $('#pbx-federation-message'),
	// The admin's language as the module speaks it ('ru' or 'en'), decided by the controller (Lib/AdminLanguage.php).
	lang: $('#pbx-federation-peers').data('lang') === 'ru' ? 'ru' : 'en',
	// The colour of each dot value of the worker's status (docs/status.md); anything else is yellow: no data yet.
	colors: {
		reachable: 'green', ok: 'green', applied: 'green', unreachable: 'red', failed: 'red', disabled: 'grey',
	},

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
			if (answer.result) {
				ModulePbxFederationIndex.renderStatus(answer.data || {});
			} else {
				ModulePbxFederationIndex.renderStatus({ peers: [] });
				ModulePbxFederationIndex.showMessages(answer); // the worker is not running: say so and why
			}
			ModulePbxFederationIndex.timer = setTimeout(ModulePbxFederationIndex.poll, ModulePbxFederationIndex.pollMs);
		});
	},

	problemText(problem) {
		return (problem.message && problem.message[ModulePbxFederationIndex.lang]) || problem.code || '';
	},

	/** The worker's status: peers is a list of {name, trunk, blf, apply, rtt_ms, problems} (docs/status.md). */
	renderStatus(status) {
		const peers = {};
		(status.peers || []).forEach((p) => { peers[String(p.name).toLowerCase()] = p; });
		$('#pbx-federation-peers-table tr.peer-row').each((i, row) => {
			const $row = $(row);
			const peer = peers[String($row.data('name')).toLowerCase()] || {};
			['trunk', 'blf', 'apply'].forEach((kind) => {
				const color = ModulePbxFederationIndex.colors[peer[kind]] || 'yellow';
				$row.find(`.pbxfed-dot[data-kind="${kind}"] i`).attr('class', `${color} circle icon`);
			});
			$row.find('.pbxfed-rtt').text(peer.rtt_ms === undefined || peer.rtt_ms === null ? '—' : `${peer.rtt_ms} ms`);
			const $problems = $row.find('.pbxfed-problems').empty();
			ModulePbxFederationIndex.breakoutTexts(peer).forEach((text) => {
				$('<div>').addClass('ui tiny grey basic label').text(text).appendTo($problems);
			});
			(peer.problems || []).forEach((problem) => {
				$('<div>').addClass(`ui tiny ${problem.severity === 'warning' ? 'orange' : 'red'} basic label`)
					.text(ModulePbxFederationIndex.problemText(problem)).appendTo($problems);
			});
		});
	},

	/** What the peer's PSTN fallback, transit and via numbers do, one short text each (status fields, docs/status.md). */
	breakoutTexts(peer) {
		const $box = $('#pbx-federation-peers');
		const out = [];
		if (peer.fallback) {
			const routes = (peer.fallback.routes || []).map((r) => `${r.pattern} → ${r.sent_as}`).join(', ');
			out.push(`${$box.data('label-fallback')}: ${routes} (${peer.fallback.provider_name})`);
		}
		if (peer.transit) {
			const limit = peer.transit.limit ? ` ≤ ${peer.transit.limit}` : '';
			out.push(`${$box.data('label-transit')}: ${(peer.transit.patterns || []).join(', ')} (${peer.transit.provider_name}${limit})`);
		}
		if (peer.via && peer.via.length) {
			out.push(`${$box.data('label-via')}: ${peer.via.join(', ')}`);
		}
		return out;
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

	/** The worker's dry run: create, update and delete lists of {op, table, key: [...], peer, columns}. */
	showPreview(answer) {
		const data = answer.data || {};
		const fill = ($list, items) => {
			$list.empty();
			(items || []).forEach((item) => {
				const columns = (item.columns || []).length ? ` [${item.columns.join(', ')}]` : '';
				const text = `${item.table} ${(item.key || []).join(' / ')}${item.peer ? ` (${item.peer})` : ''}${columns}`;
				$('<div class="item">').text(text).appendTo($list);
			});
			if (!(items || []).length) {
				$('<div class="item">').text(globalTranslate.module_pbx_federation_PreviewNothing).appendTo($list);
			}
		};
		fill($('#pbx-federation-preview-create'), data.create);
		fill($('#pbx-federation-preview-update'), data.update);
		fill($('#pbx-federation-preview-remove'), data.delete);
		ModulePbxFederationIndex.showMessages(answer);
		$('#pbx-federation-preview-modal').modal('show');
	},
};

$(document).ready(() => {
	ModulePbxFederationIndex.initialize();
});
