/*
 * ModulePbxFederation peer form: the secret (a password input: show/hide, generate) and the worker's refusals
 * and warnings under their fields, for a refused save as well as a saved one.
 * Plain ES2015 (no build step); globals come from MikoPBX's admin cabinet. Texts are set with text().
 */
/* global globalRootUrl, Form, $ */

const ModulePbxFederationModify = {
	$form: $('#module-pbx-federation-peer-form'),
	texts: $('#module-pbx-federation-peer-form').data('texts') || {},

	initialize() {
		const $form = ModulePbxFederationModify.$form;
		$form.find('.ui.checkbox').checkbox();
		$form.find('.ui.dropdown').dropdown();
		$('#pbx-federation-generate-secret').on('click', (e) => {
			e.preventDefault();
			$form.form('set value', 'secret', ModulePbxFederationModify.newSecret(24));
			ModulePbxFederationModify.showSecret(true);
			Form.dataChanged();
		});
		$('#pbx-federation-show-secret').on('click', (e) => {
			e.preventDefault();
			ModulePbxFederationModify.showSecret($form.find('input[name="secret"]').attr('type') === 'password');
		});
		Form.$formObj = $form;
		Form.url = `${globalRootUrl}module-pbx-federation/module-pbx-federation/savePeer`;
		Form.validateRules = {};
		Form.cbBeforeSendForm = (settings) => {
			const result = settings;
			result.data = $form.form('get values');
			ModulePbxFederationModify.clearProblems();
			return result;
		};
		Form.cbAfterSendForm = (response) => ModulePbxFederationModify.markProblems(response);
		// 2026.1's form.js (handleSubmitResponse) calls cbAfterSendForm only when the answer is a success, so a
		// refused save would show no field marker: the save goes through this object instead, which marks the
		// fields for every answer and then hands the answer to form.js. 2024.1's form.js has no apiSettings and
		// calls cbAfterSendForm for every answer itself.
		Form.apiSettings = {
			enabled: true,
			saveMethod: 'save',
			apiObject: {
				save(data, done) {
					$.ajax({
						url: Form.url,
						method: 'POST',
						data,
						dataType: 'json',
						timeout: 30000,
						headers: { 'X-Requested-With': 'XMLHttpRequest' },
					}).done((answer) => {
						ModulePbxFederationModify.markProblems(answer || {});
						done(answer || {});
					}).fail(() => done({ success: false, message: { error: [ModulePbxFederationModify.texts.WorkerTimeout || 'timeout'] } }));
				},
			},
		};
		Form.initialize();
	},

	showSecret(visible) {
		const $input = ModulePbxFederationModify.$form.find('input[name="secret"]');
		$input.attr('type', visible ? 'text' : 'password');
		$('#pbx-federation-show-secret')
			.attr('data-tooltip', ModulePbxFederationModify.texts[visible ? 'HideSecret' : 'ShowSecret'] || '')
			.find('i').attr('class', visible ? 'eye slash icon' : 'eye icon');
	},

	/** Letters and digits only: no character the worker refuses (E_SECRET_INVALID). */
	newSecret(length) {
		const alphabet = 'ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789';
		const bytes = new Uint32Array(length);
		window.crypto.getRandomValues(bytes);
		return Array.from(bytes, (b) => alphabet[b % alphabet.length]).join('');
	},

	clearProblems() {
		ModulePbxFederationModify.$form.find('.field').removeClass('error warning').find('.pbxfed-problem').remove();
	},

	/** Puts each problem under its field; nothing was saved when an error (not a warning) is present. */
	markProblems(response) {
		const lang = ModulePbxFederationModify.$form.data('lang') === 'ru' ? 'ru' : 'en';
		ModulePbxFederationModify.clearProblems();
		((response && response.problems) || []).forEach((problem) => {
			let $field = ModulePbxFederationModify.$form.find(`.field[data-field="${problem.field}"]`);
			if (!$field.length) $field = ModulePbxFederationModify.$form.find('.field[data-field="name"]');
			const text = (problem.message && problem.message[lang]) || problem.text || problem.code;
			const warning = problem.severity === 'warning';
			$field.addClass(warning ? 'warning' : 'error');
			$('<div class="ui pointing basic label pbxfed-problem">')
				.addClass(warning ? 'orange' : 'red').attr('data-code', problem.code || '').text(text).appendTo($field);
		});
	},
};

$(document).ready(() => {
	ModulePbxFederationModify.initialize();
});
