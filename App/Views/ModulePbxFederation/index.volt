{# ModulePbxFederation: the other stations with their live state first, then pairing, then this station's settings.
   Live values come from the REST action "status" (docs/status.md); every text the worker sends is set with text(). #}
<div class="ui segment" id="pbx-federation-peers" data-lang="{{ adminLanguage }}" data-texts="{{ textsJson|e }}">
    <h3 class="ui header">
        <i class="sitemap icon"></i>
        <div class="content">
            {{ t._('module_pbx_federation_PeersHeader') }}
            <div class="sub header" id="pbx-federation-summary">{% if peers is empty %}{{ t._('module_pbx_federation_SummaryNone') }}{% else %}{{ t._('module_pbx_federation_SummaryLoading') }}{% endif %}</div>
        </div>
    </h3>
    <div class="ui hidden message" id="pbx-federation-message"></div>
    <div class="ui small buttons">
        {{ link_to('module-pbx-federation/module-pbx-federation/modify', '<i class="add icon"></i> ' ~ t._('module_pbx_federation_AddPeer'), 'class': 'ui blue button', 'id': 'pbx-federation-add') }}
        <button class="ui button" id="pbx-federation-apply" type="button"><i class="sync icon"></i> {{ t._('module_pbx_federation_ApplyNow') }}</button>
        <button class="ui button" id="pbx-federation-preview" type="button"><i class="eye icon"></i> {{ t._('module_pbx_federation_Preview') }}</button>
    </div>

    {% if peers is empty %}
        <div class="ui info message" id="pbx-federation-empty">
            <div class="header">{{ t._('module_pbx_federation_NoPeers') }}</div>
            <p>{{ t._('module_pbx_federation_NoPeersHelp') }}</p>
        </div>
    {% else %}
    <table class="ui very basic compact unstackable table" id="pbx-federation-peers-table">
        <thead>
        <tr>
            <th>{{ t._('module_pbx_federation_ColumnState') }}</th>
            <th>{{ t._('module_pbx_federation_ColumnName') }}</th>
            <th>{{ t._('module_pbx_federation_ColumnHost') }}</th>
            <th>{{ t._('module_pbx_federation_ColumnPatterns') }}</th>
            <th class="collapsing">{{ t._('module_pbx_federation_ColumnDetails') }}</th>
            <th class="collapsing">{{ t._('module_pbx_federation_ColumnRtt') }}</th>
            <th>{{ t._('module_pbx_federation_ColumnProblems') }}</th>
            <th></th>
        </tr>
        </thead>
        <tbody>
        {% for peer in peers %}
            <tr class="peer-row{% if not peer['enabled'] %} pbxfed-off{% endif %}" data-name="{{ peer['name']|e }}" data-id="{{ peer['id'] }}" data-enabled="{{ peer['enabled'] ? '1' : '0' }}">
                <td class="collapsing"><span class="ui small label pbxfed-state">{{ t._('module_pbx_federation_StateChecking') }}</span></td>
                <td class="pbxfed-name">
                    <strong>{{ peer['name']|e }}</strong>
                    {% if peer['paired'] %}<span class="ui mini teal basic label pbxfed-paired" data-tooltip="{{ t._('module_pbx_federation_PairedHint')|e }}"><i class="handshake icon"></i>{{ t._('module_pbx_federation_Paired') }}</span>{% endif %}
                    {% if peer['note'] is not empty %}<div class="pbxfed-note">{{ peer['note']|e }}</div>{% endif %}
                </td>
                <td>{{ peer['host']|e }}</td>
                <td class="pbxfed-patterns">{{ peer['patterns']|e }}</td>
                <td class="collapsing pbxfed-dots">
                    <span class="pbxfed-dot" data-kind="trunk" data-tooltip="{{ t._('module_pbx_federation_Trunk') }}"><i class="grey circle icon"></i><span class="pbxfed-dot-label">{{ t._('module_pbx_federation_TrunkShort') }}</span></span>
                    <span class="pbxfed-dot" data-kind="blf" data-tooltip="{{ t._('module_pbx_federation_Blf') }}"><i class="grey circle icon"></i><span class="pbxfed-dot-label">{{ t._('module_pbx_federation_BlfShort') }}</span></span>
                    <span class="pbxfed-dot" data-kind="apply" data-tooltip="{{ t._('module_pbx_federation_LastApply') }}"><i class="grey circle icon"></i><span class="pbxfed-dot-label">{{ t._('module_pbx_federation_ApplyShort') }}</span></span>
                </td>
                <td class="collapsing pbxfed-rtt">—</td>
                <td class="pbxfed-problems"></td>
                <td class="right aligned collapsing">
                    <div class="ui tiny basic icon buttons">
                        <button type="button" class="ui button pbxfed-check" data-tooltip="{{ t._('module_pbx_federation_CheckConnection') }}" data-position="top right"><i class="heartbeat icon"></i></button>
                        {{ link_to('module-pbx-federation/module-pbx-federation/modify/' ~ peer['id'], '<i class="edit icon"></i>', 'class': 'ui button pbxfed-edit', 'data-tooltip': t._('module_pbx_federation_EditPeer'), 'data-position': 'top right') }}
                        <a class="ui button two-steps-delete pbxfed-delete" data-id="{{ peer['id'] }}" data-tooltip="{{ t._('module_pbx_federation_DeletePeerTwice') }}" data-position="top right"><i class="red trash icon"></i></a>
                    </div>
                </td>
            </tr>
        {% endfor %}
        </tbody>
    </table>
    {% endif %}
</div>

<div class="ui segment" id="pbx-federation-pairing">
    <h3 class="ui header"><i class="handshake outline icon"></i><div class="content">{{ t._('module_pbx_federation_PairingHeader') }}
        <div class="sub header">{{ t._('module_pbx_federation_PairingHelp') }}</div></div></h3>
    <div class="ui two column stackable grid">
        <div class="column">
            <h4 class="ui header">{{ t._('module_pbx_federation_InviteHeader') }}</h4>
            <div class="ui form">
                <div class="field">
                    <label>{{ t._('module_pbx_federation_InviteAddress') }}</label>
                    <input type="text" id="pbx-federation-invite-address" placeholder="{{ t._('module_pbx_federation_InviteAddressPlaceholder')|e }}">
                </div>
                <div class="field">
                    <label>{{ t._('module_pbx_federation_InviteFrom') }}</label>
                    <input type="text" id="pbx-federation-invite-from" placeholder="198.51.100.20">
                    <div class="ui pointing basic label">{{ t._('module_pbx_federation_InviteFromHint') }}</div>
                </div>
                <button type="button" class="ui blue button" id="pbx-federation-invite"><i class="paper plane icon"></i> {{ t._('module_pbx_federation_CreateInvitation') }}</button>
                <div class="field" style="margin-top: 1em">
                    <textarea id="pbx-federation-invitation" rows="3" readonly placeholder="{{ t._('module_pbx_federation_InvitationPlaceholder')|e }}"></textarea>
                </div>
            </div>
        </div>
        <div class="column">
            <h4 class="ui header">{{ t._('module_pbx_federation_AcceptHeader') }}</h4>
            <div class="ui form">
                <div class="field">
                    <label>{{ t._('module_pbx_federation_PasteInvitation') }}</label>
                    <textarea id="pbx-federation-accept-text" rows="3" placeholder="{{ t._('module_pbx_federation_PastePlaceholder')|e }}"></textarea>
                </div>
                <button type="button" class="ui green button" id="pbx-federation-accept"><i class="handshake icon"></i> {{ t._('module_pbx_federation_AcceptInvitation') }}</button>
            </div>
        </div>
    </div>
</div>

<form class="ui large grey segment form" id="module-pbx-federation-form" method="post"
      action="{{ url('module-pbx-federation/module-pbx-federation/save') }}">
    {{ form.render('id') }}
    <h3 class="ui header"><i class="server icon"></i><div class="content">{{ t._('module_pbx_federation_SettingsHeader') }}</div></h3>
    <div class="two fields">
        <div class="field" data-field="station_name">
            <label>{{ t._('module_pbx_federation_StationName') }}</label>
            {{ form.render('station_name') }}
            <div class="ui pointing basic label">{{ t._('module_pbx_federation_StationNameHint') }}</div>
        </div>
        <div class="field" data-field="display_name">
            <label>{{ t._('module_pbx_federation_DisplayName') }}</label>
            {{ form.render('display_name') }}
        </div>
    </div>
    <div class="field" data-field="own_patterns">
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
    {# No "Back to list": this page is the list. #}
    {{ partial("partials/submitbutton", ['indexurl': '']) }}
    <div class="ui clearing hidden divider"></div>
</form>

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

<style>
    #pbx-federation-peers-table .pbxfed-state { min-width: 8em; text-align: center; }
    #pbx-federation-peers-table .pbxfed-note { color: rgba(0, 0, 0, .55); font-size: .9em; max-width: 22em; overflow-wrap: anywhere; }
    #pbx-federation-peers-table .pbxfed-name strong { overflow-wrap: anywhere; }
    #pbx-federation-peers-table .pbxfed-dot { white-space: nowrap; margin-right: .4em; }
    #pbx-federation-peers-table .pbxfed-dot-label { font-size: .85em; color: rgba(0, 0, 0, .6); }
    #pbx-federation-peers-table .pbxfed-problems .label { margin: 0 .3em .3em 0; white-space: normal; }
    #pbx-federation-peers-table .pbxfed-hint { color: rgba(0, 0, 0, .7); font-size: .9em; }
    #pbx-federation-peers-table tr.pbxfed-off td { color: rgba(0, 0, 0, .45); }
    #pbx-federation-peers .ui.small.buttons { margin-bottom: 1em; }
</style>
