/*
 * ModulePbxFederation peer form: secret generator and display of the worker's refusals per field.
 * Plain ES2015 (no build step); globals come from MikoPBX's admin cabinet.
 */
/* global globalRootUrl, Form, $ */

const ModulePbxFederationModify = {
	$form: $('#module-pbx-federation-peer-form'),

	initialize() {
		ModulePbxFederationModify.$form.find('.ui.checkbox').checkbox();
		ModulePbxFederationModify.$form.find('.ui.dropdown').dropdown();
		$('#pbx-federation-generate-secret').on('click', (e) => {
			e.preventDefault();
			ModulePbxFederationModify.$form.form('set value', 'secret', ModulePbxFederationModify.newSecret(24));
			Form.dataChanged();
		});
		Form.$formObj = ModulePbxFederationModify.$form;
		Form.url = `${globalRootUrl}module-pbx-federation/module-pbx-federation/savePeer`;
		Form.validateRules = {};
		Form.cbBeforeSendForm = (settings) => {
			const result = settings;
			result.data = ModulePbxFederationModify.$form.form('get values');
			ModulePbxFederationModify.$form.find('.field').removeClass('error').find('.pbxfed-problem').remove();
			return result;
		};
		Form.cbAfterSendForm = ModulePbxFederationModify.markProblems;
		Form.initialize();
	},

	/** Letters and digits only: no character the worker refuses (E_SECRET_INVALID). */
	newSecret(length) {
		const alphabet = 'ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789';
		const bytes = new Uint32Array(length);
		window.crypto.getRandomValues(bytes);
		return Array.from(bytes, (b) => alphabet[b % alphabet.length]).join('');
	},

	/** Puts each problem under its field; nothing was saved when an E_* problem is present. */
	markProblems(response) {
		const lang = ModulePbxFederationModify.$form.data('lang') === 'ru' ? 'ru' : 'en';
		((response && response.problems) || []).forEach((problem) => {
			const $field = ModulePbxFederationModify.$form.find(`.field[data-field="${problem.field}"]`);
			const text = problem.text || (problem.message && problem.message[lang]) || problem.code;
			const warning = problem.severity === 'warning';
			if (!warning) $field.addClass('error');
			$('<div class="ui pointing basic label pbxfed-problem">')
				.addClass(warning ? 'orange' : 'red').text(text).appendTo($field);
		});
	},
};

$(document).ready(() => {
	ModulePbxFederationModify.initialize();
});
