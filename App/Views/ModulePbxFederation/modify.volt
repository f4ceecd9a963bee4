{# ModulePbxFederation: one peer station. The worker validates on save; refused fields are shown with the reason. #}
<form class="ui large grey segment form" id="module-pbx-federation-peer-form" data-lang="{{ adminLanguage }}" data-texts="{{ textsJson|e }}" method="post"
      action="{{ url('module-pbx-federation/module-pbx-federation/savePeer') }}">
    {{ form.render('id') }}
    <h3 class="ui header">{{ t._('module_pbx_federation_ModifyPeerHeader') }} {{ represent|e }}</h3>
    <div class="two fields">
        <div class="field" data-field="name">
            <label>{{ t._('module_pbx_federation_PeerName') }}</label>
            {{ form.render('name') }}
            <div class="ui pointing basic label">{{ t._('module_pbx_federation_PeerNameHint') }}</div>
        </div>
        <div class="field" data-field="host">
            <label>{{ t._('module_pbx_federation_PeerHost') }}</label>
            {{ form.render('host') }}
        </div>
    </div>
    <div class="two fields">
        <div class="field" data-field="port">
            <label>{{ t._('module_pbx_federation_PeerPort') }}</label>
            {{ form.render('port') }}
        </div>
        <div class="field" data-field="transport">
            <label>{{ t._('module_pbx_federation_PeerTransport') }}</label>
            {{ form.render('transport') }}
        </div>
    </div>
    <div class="field" data-field="patterns">
        <label>{{ t._('module_pbx_federation_PeerPatterns') }}</label>
        {{ form.render('patterns') }}
        <div class="ui pointing basic label">{{ t._('module_pbx_federation_PeerPatternsHint') }}</div>
    </div>
    <div class="field" data-field="secret">
        <label>{{ t._('module_pbx_federation_PeerSecret') }}</label>
        <div class="ui action input">
            {{ form.render('secret') }}
            <button type="button" class="ui icon button" id="pbx-federation-show-secret" data-tooltip="{{ t._('module_pbx_federation_ShowSecret')|e }}"><i class="eye icon"></i></button>
            <button type="button" class="ui button" id="pbx-federation-generate-secret">
                <i class="key icon"></i> {{ t._('module_pbx_federation_GenerateSecret') }}
            </button>
        </div>
    </div>
    <div class="field" data-field="enabled">
        <div class="ui toggle checkbox">
            {{ form.render('enabled') }}
            <label>{{ t._('module_pbx_federation_PeerEnabled') }}</label>
        </div>
    </div>
    <div class="three fields">
        <div class="field" data-field="blf">
            <label>{{ t._('module_pbx_federation_PeerBlf') }}</label>
            {{ form.render('blf') }}
        </div>
        <div class="field" data-field="transfers">
            <label>{{ t._('module_pbx_federation_PeerTransfers') }}</label>
            {{ form.render('transfers') }}
        </div>
        <div class="field" data-field="overlap_fix">
            <label>{{ t._('module_pbx_federation_PeerOverlapFix') }}</label>
            {{ form.render('overlap_fix') }}
        </div>
    </div>
    <h4 class="ui dividing header">{{ t._('module_pbx_federation_FallbackHeader') }}</h4>
    <div class="ui small message">{{ t._('module_pbx_federation_FallbackHelp') }}</div>
    <div class="three fields">
        <div class="field" data-field="fallback_provider">
            <label>{{ t._('module_pbx_federation_FallbackProvider') }}</label>
            {{ form.render('fallback_provider') }}
        </div>
        <div class="field" data-field="fallback_trim">
            <label>{{ t._('module_pbx_federation_FallbackTrim') }}</label>
            {{ form.render('fallback_trim') }}
        </div>
        <div class="field" data-field="fallback_prepend">
            <label>{{ t._('module_pbx_federation_FallbackPrepend') }}</label>
            {{ form.render('fallback_prepend') }}
        </div>
    </div>
    <h4 class="ui dividing header">{{ t._('module_pbx_federation_TransitHeader') }}</h4>
    <div class="ui small message">{{ t._('module_pbx_federation_TransitHelp') }}</div>
    <div class="field" data-field="transit_patterns">
        <label>{{ t._('module_pbx_federation_TransitPatterns') }}</label>
        {{ form.render('transit_patterns') }}
        <div class="ui pointing basic label">{{ t._('module_pbx_federation_TransitPatternsHint') }}</div>
    </div>
    <div class="three fields">
        <div class="field" data-field="transit_provider">
            <label>{{ t._('module_pbx_federation_TransitProvider') }}</label>
            {{ form.render('transit_provider') }}
        </div>
        <div class="field" data-field="transit_limit">
            <label>{{ t._('module_pbx_federation_TransitLimit') }}</label>
            {{ form.render('transit_limit') }}
        </div>
        <div class="field" data-field="transit_callerid">
            <label>{{ t._('module_pbx_federation_TransitCallerId') }}</label>
            {{ form.render('transit_callerid') }}
        </div>
    </div>
    <div class="field" data-field="via_patterns">
        <label>{{ t._('module_pbx_federation_ViaPatterns') }}</label>
        {{ form.render('via_patterns') }}
        <div class="ui pointing basic label">{{ t._('module_pbx_federation_ViaPatternsHint') }}</div>
    </div>
    <div class="field" data-field="note">
        <label>{{ t._('module_pbx_federation_PeerNote') }}</label>
        {{ form.render('note') }}
    </div>
    {{ partial("partials/submitbutton", ['indexurl': 'module-pbx-federation/module-pbx-federation/index']) }}
</form>
