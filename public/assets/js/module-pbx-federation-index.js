/*
 * ModulePbxFederation admin page: the other stations with their live state (polled from the module's REST
 * action "status", the worker's status document: docs/status.md), "Apply now", "Check connection", the preview
 * modal, pairing, the two-step delete and this station's settings form.
 * Plain ES2015 (no build step); globals come from MikoPBX's admin cabinet. Every text that comes from the worker
 * or from an admin is set with text(), never html().
 */
/* global globalRootUrl, Config, Form, $ */

const ModulePbxFederationIndex = {
	apiRoot: `${typeof Config !== 'undefined' ? Config.pbxUrl : ''}/pbxcore/api/modules/ModulePbxFederation/`,
	pollMs: 5000,
	timer: null,
	$form: $('#module-pbx-federation-form'),
	$message: $('#pbx-federation-message'),
	$peers: $('#pbx-federation-peers'),
	// The admin's language as the module speaks it ('ru' or 'en'), decided by the controller (Lib/AdminLanguage.php).
	lang: $('#pbx-federation-peers').data('lang') === 'ru' ? 'ru' : 'en',
	// The page's texts in that language (the controller's INDEX_TEXTS).
	texts: $('#pbx-federation-peers').data('texts') || {},
	// The colour of each dot value of the worker's status (docs/status.md); anything else is yellow: no data yet.
	colors: {
		reachable: 'green', ok: 'green', applied: 'green', unreachable: 'red', failed: 'red', disabled: 'grey',
	},

	t(key, params) {
		let text = ModulePbxFederationIndex.texts[key] || key;
		Object.keys(params || {}).forEach((name) => { text = text.split(`%${name}%`).join(String(params[name])); });
		return text;
	},

	initialize() {
		ModulePbxFederationIndex.initializeSettingsForm();
		$('#pbx-federation-apply').on('click', (e) => {
			e.preventDefault();
			const $button = $(e.currentTarget).addClass('loading');
			ModulePbxFederationIndex.call('apply', {}, (answer) => {
				$button.removeClass('loading');
				ModulePbxFederationIndex.showMessages(answer, answer.result ? ModulePbxFederationIndex.t('ApplyDone') : '');
				ModulePbxFederationIndex.poll();
			});
		});
		$('#pbx-federation-preview').on('click', (e) => {
			e.preventDefault();
			const $button = $(e.currentTarget).addClass('loading');
			ModulePbxFederationIndex.call('preview', {}, (answer) => {
				$button.removeClass('loading');
				ModulePbxFederationIndex.showPreview(answer);
			});
		});
		$('.pbxfed-check').on('click', (e) => {
			e.preventDefault();
			const $button = $(e.currentTarget);
			const name = String($button.closest('tr').data('name'));
			$button.addClass('loading');
			ModulePbxFederationIndex.call('check', { name }, (answer) => {
				$button.removeClass('loading');
				const peer = (answer.data || {}).peer;
				if (answer.result && peer) {
					ModulePbxFederationIndex.renderPeer($button.closest('tr'), peer);
					const state = ModulePbxFederationIndex.peerState(peer, true);
					let text = ModulePbxFederationIndex.t('CheckResult', { name, state: state.label });
					if (peer.rtt_ms !== null && peer.rtt_ms !== undefined) {
						text += ` ${ModulePbxFederationIndex.t('CheckRtt', { rtt: peer.rtt_ms })}`;
					}
					if (state.hint) text += ` ${state.hint}`;
					ModulePbxFederationIndex.showText(state.color === 'green' ? 'positive' : 'warning', [text]);
				} else {
					ModulePbxFederationIndex.showMessages(answer);
				}
			});
		});
		// Core's DeleteSomething turns the first click into a confirmation; the second one posts the delete.
		$('.pbxfed-delete').on('click', (e) => {
			const $button = $(e.currentTarget);
			e.preventDefault();
			if ($button.hasClass('two-steps-delete') || $button.hasClass('disabled')) {
				return; // first click: Core's handler (delegated on body) asks for the second one
			}
			e.stopImmediatePropagation();
			$button.addClass('loading disabled');
			$.ajax({
				url: `${globalRootUrl}module-pbx-federation/module-pbx-federation/deletePeer`,
				method: 'POST',
				data: { id: $button.data('id') },
				dataType: 'json',
				headers: { 'X-Requested-With': 'XMLHttpRequest' },
				timeout: 15000,
			}).always((answer) => {
				if (answer && answer.success) {
					window.location = `${globalRootUrl}module-pbx-federation/module-pbx-federation/index`;
				} else {
					$button.removeClass('loading disabled');
					ModulePbxFederationIndex.showMessages({ result: false, messages: (answer && answer.message) || {} });
				}
			});
		});
		$('#pbx-federation-invite').on('click', (e) => {
			e.preventDefault();
			const $button = $(e.currentTarget).addClass('loading');
			const data = {
				address: $('#pbx-federation-invite-address').val(),
				from: $('#pbx-federation-invite-from').val(),
			};
			ModulePbxFederationIndex.call('invite', data, (answer) => {
				$button.removeClass('loading');
				const text = ((answer.data || {}).invitation) || '';
				$('#pbx-federation-invitation').val(text);
				ModulePbxFederationIndex.showMessages(answer, text ? ModulePbxFederationIndex.t('InvitationCreated') : '');
				if (text) $('#pbx-federation-invitation').trigger('select');
			});
		});
		$('#pbx-federation-accept').on('click', (e) => {
			e.preventDefault();
			const $button = $(e.currentTarget).addClass('loading');
			const data = { invitation: $('#pbx-federation-accept-text').val() };
			ModulePbxFederationIndex.call('accept', data, (answer) => {
				$button.removeClass('loading');
				const peer = (answer.data || {}).peer || {};
				ModulePbxFederationIndex.showMessages(answer,
					answer.result ? ModulePbxFederationIndex.t('PairedWith', { name: peer.name || '' }) : '');
				if (answer.result) {
					setTimeout(() => window.location.reload(), 800);
				}
			});
		});
		ModulePbxFederationIndex.poll();
	},

	initializeSettingsForm() {
		const $form = ModulePbxFederationIndex.$form;
		$form.find('.ui.checkbox').checkbox();
		Form.$formObj = $form;
		Form.url = `${globalRootUrl}module-pbx-federation/module-pbx-federation/save`;
		Form.validateRules = {};
		Form.cbBeforeSendForm = (settings) => {
			const result = settings;
			result.data = $form.form('get values');
			$form.find('.field').removeClass('error').find('.pbxfed-problem').remove();
			return result;
		};
		Form.cbAfterSendForm = () => {};
		// 2026.1's form.js calls cbAfterSendForm only for a successful answer: the refused fields are marked here,
		// for every answer, before form.js shows its messages (2024.1's form.js ignores apiSettings).
		Form.apiSettings = {
			enabled: true,
			saveMethod: 'save',
			apiObject: {
				save(data, done) {
					ModulePbxFederationIndex.post(Form.url, data, (answer) => {
						ModulePbxFederationIndex.markProblems($form, answer.problems);
						done(answer);
					});
				},
			},
		};
		Form.initialize();
	},

	/** An admin-cabinet AJAX POST (Core's controllers answer JSON to it); failures come back as an error answer. */
	post(url, data, onDone) {
		$.ajax({
			url, method: 'POST', data, dataType: 'json', timeout: 30000, headers: { 'X-Requested-With': 'XMLHttpRequest' },
		}).done((answer) => onDone(answer || {}))
			.fail(() => onDone({ success: false, message: { error: [ModulePbxFederationIndex.t('WorkerTimeout')] } }));
	},

	/** Puts each problem (the worker's: field, severity, message {ru, en}) under its field, as text. */
	markProblems($form, problems) {
		$form.find('.field').removeClass('error').find('.pbxfed-problem').remove();
		(problems || []).forEach((problem) => {
			const $field = $form.find(`.field[data-field="${problem.field}"]`);
			const text = (problem.message && problem.message[ModulePbxFederationIndex.lang]) || problem.text || problem.code;
			const warning = problem.severity === 'warning';
			if (!warning) $field.addClass('error');
			$('<div class="ui pointing basic label pbxfed-problem">')
				.addClass(warning ? 'orange' : 'red').text(text).appendTo($field);
		});
	},

	call(action, data, onDone) {
		$.ajax({
			url: ModulePbxFederationIndex.apiRoot + action,
			method: 'POST',
			data,
			dataType: 'json',
			timeout: 15000,
		}).done((answer) => onDone(answer || {}))
			.fail(() => onDone({ result: false, messages: { error: [ModulePbxFederationIndex.t('WorkerTimeout')] } }));
	},

	poll() {
		clearTimeout(ModulePbxFederationIndex.timer);
		ModulePbxFederationIndex.call('status', {}, (answer) => {
			if (answer.result) {
				if (ModulePbxFederationIndex.$message.attr('data-source') === 'status') {
					ModulePbxFederationIndex.$message.addClass('hidden').empty().attr('data-source', '');
				}
				ModulePbxFederationIndex.renderStatus(answer.data || {});
			} else {
				// The worker is not running (or does not answer): say so and why; the dots are not live.
				ModulePbxFederationIndex.renderStatus({ peers: [] }, true);
				ModulePbxFederationIndex.showMessages(answer);
				ModulePbxFederationIndex.$message.attr('data-source', 'status');
			}
			ModulePbxFederationIndex.timer = setTimeout(ModulePbxFederationIndex.poll, ModulePbxFederationIndex.pollMs);
		});
	},

	problemText(problem) {
		return (problem.message && problem.message[ModulePbxFederationIndex.lang]) || problem.code || '';
	},

	/** What a row says at a glance: a coloured word and, when something is wrong, what to do. */
	peerState(peer, known) {
		const t = ModulePbxFederationIndex.t;
		if (!known) return { color: 'grey', label: t('StateChecking'), hint: '' };
		if (peer.disabled) return { color: 'grey', label: t('StateDisabled'), hint: t('HintDisabled') };
		if (peer.apply === 'failed') return { color: 'red', label: t('StateNotApplied'), hint: t('HintNotApplied') };
		if (peer.trunk === 'unreachable') return { color: 'red', label: t('StateNoConnection'), hint: t('HintNoConnection') };
		if (peer.trunk === 'reachable') {
			return { color: 'green', label: t('StateWorking'), hint: peer.blf === 'ok' || peer.blf === 'disabled' ? '' : t('HintBlfWaiting') };
		}
		return { color: 'yellow', label: t('StateChecking'), hint: t('HintChecking') };
	},

	renderPeer($row, peer, notLive) {
		const known = !notLive && peer !== undefined;
		const p = peer || {};
		['trunk', 'blf', 'apply'].forEach((kind) => {
			let color = known ? (ModulePbxFederationIndex.colors[p[kind]] || 'yellow') : 'grey';
			// lamps of a station that does not answer read Unavailable here, whatever arrived before
			if (kind === 'blf' && known && p.trunk === 'unreachable' && p.blf === 'ok') color = 'red';
			$row.find(`.pbxfed-dot[data-kind="${kind}"] i`).attr('class', `${color} circle icon`);
			$row.find(`.pbxfed-dot[data-kind="${kind}"]`).attr('data-state', known ? String(p[kind] || '') : '');
		});
		const state = ModulePbxFederationIndex.peerState(p, known);
		$row.find('.pbxfed-state').attr('class', `ui small ${state.color} label pbxfed-state`).text(state.label)
			.attr('data-state', known ? state.color : 'unknown');
		$row.find('.pbxfed-rtt').text(!known || p.rtt_ms === undefined || p.rtt_ms === null
			? '—' : `${p.rtt_ms} ${ModulePbxFederationIndex.t('RttUnit')}`);
		const $problems = $row.find('.pbxfed-problems').empty();
		if (state.hint && state.color !== 'green') $('<div class="pbxfed-hint">').text(state.hint).appendTo($problems);
		if (known) {
			ModulePbxFederationIndex.breakoutTexts(p).forEach((text) => {
				$('<div>').addClass('ui tiny grey basic label pbxfed-breakout').text(text).appendTo($problems);
			});
		}
		(p.problems || []).forEach((problem) => {
			$('<div>').addClass(`ui tiny ${problem.severity === 'warning' ? 'orange' : 'red'} basic label pbxfed-problem`)
				.text(ModulePbxFederationIndex.problemText(problem)).appendTo($problems);
		});
		if (state.hint && state.color === 'green') $('<div class="pbxfed-hint">').text(state.hint).appendTo($problems);
		return state;
	},

	/** The worker's status: peers is a list of {name, trunk, blf, apply, rtt_ms, problems, disabled} (docs/status.md). */
	renderStatus(status, notLive) {
		const peers = {};
		(status.peers || []).forEach((p) => { peers[String(p.name).toLowerCase()] = p; });
		let ok = 0;
		let bad = 0;
		let total = 0;
		$('#pbx-federation-peers-table tr.peer-row').each((i, row) => {
			const $row = $(row);
			const peer = peers[String($row.data('name')).toLowerCase()];
			const state = ModulePbxFederationIndex.renderPeer($row, notLive ? undefined : (peer || { disabled: String($row.data('enabled')) === '0', apply: String($row.data('enabled')) === '0' ? 'disabled' : 'failed' }), notLive);
			if (state.color === 'grey' && !notLive) return;
			total += 1;
			if (state.color === 'green') ok += 1;
			if (state.color === 'red') bad += 1;
		});
		const t = ModulePbxFederationIndex.t;
		let summary = t('SummaryNone');
		if ($('#pbx-federation-peers-table tr.peer-row').length) {
			if (notLive) summary = t('SummaryNotLive');
			else if (total && ok === total) summary = t('SummaryAllOk', { total });
			else summary = t('SummaryCounts', { total, ok, bad: total - ok });
		}
		$('#pbx-federation-summary').text(summary).attr('data-bad', String(bad));
	},

	/** What the peer's PSTN fallback, transit and via numbers do, one short text each (status fields, docs/status.md). */
	breakoutTexts(peer) {
		const t = ModulePbxFederationIndex.t;
		const out = [];
		if (peer.fallback) {
			const routes = (peer.fallback.routes || []).map((r) => `${r.pattern} → ${r.sent_as}`).join(', ');
			out.push(`${t('StatusFallback')}: ${routes} (${peer.fallback.provider_name})`);
		}
		if (peer.transit) {
			const limit = peer.transit.limit ? ` ≤ ${peer.transit.limit}` : '';
			out.push(`${t('StatusTransit')}: ${(peer.transit.patterns || []).join(', ')} (${peer.transit.provider_name}${limit})`);
		}
		if (peer.via && peer.via.length) {
			out.push(`${t('StatusVia')}: ${peer.via.join(', ')}`);
		}
		return out;
	},

	showText(kind, lines) {
		const $m = ModulePbxFederationIndex.$message.removeClass('hidden positive negative warning').empty()
			.attr('data-source', '');
		$m.addClass(kind);
		lines.forEach((text) => $('<p>').text(text).appendTo($m));
	},

	showMessages(answer, successText) {
		const messages = answer.messages || {};
		const errors = [].concat(messages.error || []);
		const warnings = [].concat(messages.warning || []);
		const $m = ModulePbxFederationIndex.$message.removeClass('hidden positive negative warning').empty()
			.attr('data-source', '');
		if (errors.length) {
			$m.addClass('negative');
		} else if (warnings.length) {
			$m.addClass('warning');
		} else if (answer.result && successText) {
			$m.addClass('positive');
		} else {
			$m.addClass('hidden');
		}
		const lines = errors.concat(warnings);
		if (!errors.length && answer.result && successText) lines.unshift(successText);
		lines.forEach((text) => $('<p>').text(text).appendTo($m));
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
				$('<div class="item pbxfed-nothing">').text(ModulePbxFederationIndex.t('PreviewNothing')).appendTo($list);
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
