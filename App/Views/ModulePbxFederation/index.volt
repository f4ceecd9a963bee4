{# ModulePbxFederation: this station's settings and the table of peer stations with live status. #}
<form class="ui large grey segment form" id="module-pbx-federation-form" method="post"
      action="{{ url('module-pbx-federation/module-pbx-federation/save') }}">
    {{ form.render('id') }}
    <h3 class="ui header">{{ t._('module_pbx_federation_SettingsHeader') }}</h3>
    <div class="two fields">
        <div class="field">
            <label>{{ t._('module_pbx_federation_StationName') }}</label>
            {{ form.render('station_name') }}
            <div class="ui pointing basic label">{{ t._('module_pbx_federation_StationNameHint') }}</div>
        </div>
        <div class="field">
            <label>{{ t._('module_pbx_federation_DisplayName') }}</label>
            {{ form.render('display_name') }}
        </div>
    </div>
    <div class="field">
        <label>{{ t._('module_pbx_federation_OwnPatterns') }}</label>
        {{ form.render('own_patterns') }}
        <div class="ui pointing basic label">{{ t._('module_pbx_federation_OwnPatternsHint') }}</div>
    </div>
    <div class="three fields">
        <div class="field" data-field="public_number">
            <label>{{ t._('module_pbx_federation_PublicNumber') }}</label>
            {{ form.render('public_number') }}
        </div>
        <div class="field" data-field="public_trim">
            <label>{{ t._('module_pbx_federation_PublicTrim') }}</label>
            {{ form.render('public_trim') }}
        </div>
        <div class="field" data-field="public_prepend">
            <label>{{ t._('module_pbx_federation_PublicPrepend') }}</label>
            {{ form.render('public_prepend') }}
        </div>
    </div>
    <div class="ui small message">{{ t._('module_pbx_federation_PublicNumberHelp') }}</div>
    <div class="field">
        <div class="ui toggle checkbox">
            {{ form.render('blf_default') }}
            <label>{{ t._('module_pbx_federation_BlfDefault') }}</label>
        </div>
    </div>
    <div class="field">
        <div class="ui toggle checkbox">
            {{ form.render('transfers_default') }}
            <label>{{ t._('module_pbx_federation_TransfersDefault') }}</label>
        </div>
    </div>
    <div class="field">
        <div class="ui toggle checkbox">
            {{ form.render('overlap_fix_default') }}
            <label>{{ t._('module_pbx_federation_OverlapFixDefault') }}</label>
        </div>
    </div>
    {{ partial("partials/submitbutton", ['indexurl': 'module-pbx-federation/module-pbx-federation/index']) }}
</form>

<div class="ui segment" id="pbx-federation-peers" data-lang="{{ adminLanguage }}"
     data-label-fallback="{{ t._('module_pbx_federation_StatusFallback')|e }}"
     data-label-transit="{{ t._('module_pbx_federation_StatusTransit')|e }}"
     data-label-via="{{ t._('module_pbx_federation_StatusVia')|e }}">
    <h3 class="ui header">{{ t._('module_pbx_federation_PeersHeader') }}</h3>
    <div class="ui buttons">
        {{ link_to('module-pbx-federation/module-pbx-federation/modify', '<i class="add icon"></i> ' ~ t._('module_pbx_federation_AddPeer'), 'class': 'ui blue button') }}
        <button class="ui button" id="pbx-federation-apply"><i class="sync icon"></i> {{ t._('module_pbx_federation_ApplyNow') }}</button>
        <button class="ui button" id="pbx-federation-preview"><i class="eye icon"></i> {{ t._('module_pbx_federation_Preview') }}</button>
    </div>
    <div class="ui hidden message" id="pbx-federation-message"></div>

    {% if peers is empty %}
        <div class="ui message">{{ t._('module_pbx_federation_NoPeers') }}</div>
    {% else %}
    <table class="ui selectable very basic compact unstackable table" id="pbx-federation-peers-table">
        <thead>
        <tr>
            <th>{{ t._('module_pbx_federation_ColumnStatus') }}</th>
            <th>{{ t._('module_pbx_federation_ColumnName') }}</th>
            <th>{{ t._('module_pbx_federation_ColumnHost') }}</th>
            <th>{{ t._('module_pbx_federation_ColumnPatterns') }}</th>
            <th>{{ t._('module_pbx_federation_ColumnRtt') }}</th>
            <th>{{ t._('module_pbx_federation_ColumnProblems') }}</th>
            <th></th>
        </tr>
        </thead>
        <tbody>
        {% for peer in peers %}
            <tr class="peer-row{% if not peer['enabled'] %} disabled{% endif %}" data-name="{{ peer['name']|e }}" data-id="{{ peer['id'] }}">
                <td class="collapsing">
                    <span class="pbxfed-dot" data-kind="trunk" data-tooltip="{{ t._('module_pbx_federation_Trunk') }}"><i class="grey circle icon"></i></span>
                    <span class="pbxfed-dot" data-kind="blf" data-tooltip="{{ t._('module_pbx_federation_Blf') }}"><i class="grey circle icon"></i></span>
                    <span class="pbxfed-dot" data-kind="apply" data-tooltip="{{ t._('module_pbx_federation_LastApply') }}"><i class="grey circle icon"></i></span>
                </td>
                <td>{{ peer['name']|e }}</td>
                <td>{{ peer['host']|e }}</td>
                <td>{{ peer['patterns']|e }}</td>
                <td class="pbxfed-rtt">—</td>
                <td class="pbxfed-problems"></td>
                <td class="right aligned collapsing">
                    <div class="ui tiny basic icon buttons">
                        <button class="ui button pbxfed-check" data-tooltip="{{ t._('module_pbx_federation_CheckConnection') }}"><i class="heartbeat icon"></i></button>
                        {{ link_to('module-pbx-federation/module-pbx-federation/modify/' ~ peer['id'], '<i class="edit icon"></i>', 'class': 'ui button') }}
                        {{ link_to('module-pbx-federation/module-pbx-federation/deletePeer/' ~ peer['id'], '<i class="red trash icon"></i>', 'class': 'ui button two-steps-delete', 'data-tooltip': t._('module_pbx_federation_DeletePeer')) }}
                    </div>
                </td>
            </tr>
        {% endfor %}
        </tbody>
    </table>
    {% endif %}
</div>

<div class="ui segment" id="pbx-federation-pairing">
    <h3 class="ui header">{{ t._('module_pbx_federation_PairingHeader') }}</h3>
    <p>{{ t._('module_pbx_federation_PairingHelp') }}</p>
    <div class="ui two column stackable grid">
        <div class="column">
            <h4 class="ui header">{{ t._('module_pbx_federation_InviteHeader') }}</h4>
            <div class="ui form">
                <div class="field">
                    <label>{{ t._('module_pbx_federation_InviteAddress') }}</label>
                    <input type="text" id="pbx-federation-invite-address" placeholder="203.0.113.10">
                </div>
                <div class="field">
                    <label>{{ t._('module_pbx_federation_InviteFrom') }}</label>
                    <input type="text" id="pbx-federation-invite-from" placeholder="198.51.100.20">
                    <div class="ui pointing basic label">{{ t._('module_pbx_federation_InviteFromHint') }}</div>
                </div>
                <button class="ui blue button" id="pbx-federation-invite"><i class="paper plane icon"></i> {{ t._('module_pbx_federation_CreateInvitation') }}</button>
                <div class="field" style="margin-top: 1em">
                    <textarea id="pbx-federation-invitation" rows="4" readonly></textarea>
                </div>
            </div>
        </div>
        <div class="column">
            <h4 class="ui header">{{ t._('module_pbx_federation_AcceptHeader') }}</h4>
            <div class="ui form">
                <div class="field">
                    <label>{{ t._('module_pbx_federation_PasteInvitation') }}</label>
                    <textarea id="pbx-federation-accept-text" rows="4"></textarea>
                </div>
                <button class="ui green button" id="pbx-federation-accept"><i class="handshake icon"></i> {{ t._('module_pbx_federation_AcceptInvitation') }}</button>
            </div>
        </div>
    </div>
</div>

<div class="ui modal" id="pbx-federation-preview-modal">
    <div class="header">{{ t._('module_pbx_federation_PreviewHeader') }}</div>
    <div class="scrolling content">
        <h4 class="ui green header">{{ t._('module_pbx_federation_PreviewCreate') }}</h4>
        <div class="ui list" id="pbx-federation-preview-create"></div>
        <h4 class="ui blue header">{{ t._('module_pbx_federation_PreviewUpdate') }}</h4>
        <div class="ui list" id="pbx-federation-preview-update"></div>
        <h4 class="ui red header">{{ t._('module_pbx_federation_PreviewRemove') }}</h4>
        <div class="ui list" id="pbx-federation-preview-remove"></div>
    </div>
    <div class="actions"><div class="ui cancel button">OK</div></div>
</div>
