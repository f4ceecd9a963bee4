<?php
/*
 * ModulePbxFederation: federation of MikoPBX stations.
 * Licensed under the GNU General Public License v3 or later.
 */

namespace Modules\ModulePbxFederation\App\Controllers;

use MikoPBX\AdminCabinet\Controllers\BaseController;
use MikoPBX\AdminCabinet\Providers\AssetProvider;
use Modules\ModulePbxFederation\App\Forms\ModulePbxFederationForm;
use Modules\ModulePbxFederation\App\Forms\ModulePbxFederationPeerForm;
use Modules\ModulePbxFederation\Lib\AdminLanguage;
use Modules\ModulePbxFederation\Lib\FederationApi;
use Modules\ModulePbxFederation\Lib\ModuleLog;
use Modules\ModulePbxFederation\Lib\PeerInput;
use Modules\ModulePbxFederation\Lib\ShellCommandRunner;
use Modules\ModulePbxFederation\Lib\Texts;
use Modules\ModulePbxFederation\Lib\WorkerClient;
use Modules\ModulePbxFederation\Lib\WorkerPaths;
use Modules\ModulePbxFederation\Models\ModulePbxFederation;
use Modules\ModulePbxFederation\Models\ModulePbxFederationPeers;

/**
 * Admin pages: station settings, the peers table with live status, the peer form.
 * Thin: validation is the worker's (`peers validate`), status comes from the REST actions.
 */
class ModulePbxFederationController extends BaseController
{
    private const MODULE_ID = 'ModulePbxFederation';
    private const INDEX_URL = 'module-pbx-federation/module-pbx-federation/index';

    /** The texts the pages' scripts show, handed to them in the admin's language (no globalTranslate lookups). */
    private const INDEX_TEXTS = ['StateWorking', 'StateNoConnection', 'StateChecking', 'StateDisabled',
        'StateNotApplied', 'HintNoConnection', 'HintNotApplied', 'HintBlfWaiting', 'HintDisabled', 'HintChecking',
        'SummaryNone', 'SummaryCounts', 'SummaryAllOk', 'SummaryNotLive', 'CheckResult', 'CheckRtt', 'ApplyDone',
        'InvitationCreated', 'PairedWith', 'PreviewNothing', 'WorkerTimeout', 'RttUnit', 'StatusFallback',
        'StatusTransit', 'StatusVia'];
    private const MODIFY_TEXTS = ['ShowSecret', 'HideSecret', 'ValidationFailed', 'WorkerTimeout'];

    public function initialize(): void
    {
        $this->view->logoImagePath = $this->url->get() . 'assets/img/cache/' . self::MODULE_ID . '/logo.svg';
        parent::initialize();
        // After Core's prepareView(), which sets 'SaveSettings' (both tags): one plain Save button, no
        // "save and add new" / "save and exit" modes (form.js's redirects for them assume Core's own URLs).
        $this->view->submitMode = null;
    }

    public function indexAction(): void
    {
        $this->assets->collection(AssetProvider::FOOTER_JS)
            ->addJs('js/pbx/main/form.js', true)
            ->addJs('js/cache/' . self::MODULE_ID . '/module-pbx-federation-index.js', true);
        // Core loads Fomantic's modal only for its own pages (AssetProvider::make<Controller>Assets()); the
        // preview is a modal.
        $this->assets->collection(AssetProvider::SEMANTIC_UI_CSS)->addCss('css/vendor/semantic/modal.min.css', true);
        $this->assets->collection(AssetProvider::SEMANTIC_UI_JS)->addJs('js/vendor/semantic/modal.min.js', true);

        $settings = ModulePbxFederation::findFirst();
        if ($settings === null) {
            $settings = new ModulePbxFederation();
            $settings->blf_default = '1';
            $settings->transfers_default = '1';
            $settings->overlap_fix_default = '0';
        }
        $this->view->form = new ModulePbxFederationForm($settings);

        $peers = [];
        foreach (ModulePbxFederationPeers::find(['order' => 'name']) as $peer) {
            $peers[] = [
                'id' => $peer->id,
                'name' => $peer->name,
                'host' => $peer->host . ':' . $peer->port . ' (' . $peer->transport . ')',
                'patterns' => $peer->patterns,
                'enabled' => (string)$peer->enabled !== '0',
                'paired' => (string)$peer->paired === '1',
                'note' => (string)$peer->note,
            ];
        }
        $this->view->peers = $peers;
        $this->view->adminLanguage = $this->language();
        $this->view->textsJson = $this->pageTexts(self::INDEX_TEXTS);
        $this->view->pick('Modules/' . self::MODULE_ID . '/ModulePbxFederation/index');
    }

    /** Saves this station's settings. */
    public function saveAction(): void
    {
        if (!$this->request->isPost()) {
            return;
        }
        $data = $this->request->getPost();
        $record = ModulePbxFederation::findFirst();
        if ($record === null) {
            $record = new ModulePbxFederation();
        }
        $record->station_name = trim((string)($data['station_name'] ?? ''));
        $record->display_name = trim((string)($data['display_name'] ?? ''));
        $record->own_patterns = trim((string)($data['own_patterns'] ?? ''));
        $record->public_number = trim((string)($data['public_number'] ?? ''));
        $trim = trim((string)($data['public_trim'] ?? ''));
        $record->public_trim = $trim === '' ? '0' : $trim;
        $record->public_prepend = trim((string)($data['public_prepend'] ?? ''));
        foreach (['blf_default', 'transfers_default', 'overlap_fix_default'] as $switch) {
            $record->$switch = (($data[$switch] ?? '') === 'on') ? '1' : '0';
        }
        // The worker checks the name and the own patterns exactly as it will plan them; nothing is saved on an error.
        $api = new FederationApi($this->workerClient(), Texts::fromDi(), $this->language());
        $answer = $api->handle(['action' => 'validate-settings', 'data' => ['settings' => [
            'station_name' => $record->station_name,
            'display_name' => $record->display_name,
            'own_patterns' => $record->own_patterns,
            'public_number' => $record->public_number,
            'public_trim' => $record->public_trim,
            'public_prepend' => $record->public_prepend,
            'blf_default' => $record->blf_default,
            'transfers_default' => $record->transfers_default,
            'overlap_fix_default' => $record->overlap_fix_default,
        ]]]);
        if ($answer['result'] !== true) {
            $this->refused($answer);
            return;
        }
        $this->saveEntity($record, self::INDEX_URL);
    }

    public function modifyAction(string $peerId = ''): void
    {
        $this->assets->collection(AssetProvider::FOOTER_JS)
            ->addJs('js/pbx/main/form.js', true)
            ->addJs('js/cache/' . self::MODULE_ID . '/module-pbx-federation-modify.js', true);
        $peer = $peerId !== '' ? ModulePbxFederationPeers::findFirstById($peerId) : null;
        if ($peer === null) {
            $peer = new ModulePbxFederationPeers();
            $peer->port = '5060';
            $peer->transport = 'udp';
            $peer->enabled = '1';
        }
        $providers = $this->workerClient()->providers();
        $this->view->form = new ModulePbxFederationPeerForm($peer, [
            'translation' => $this->translation,
            'providers' => isset($providers['error']) ? [] : $providers,
        ]);
        $this->view->represent = (string)$peer->name;
        $this->view->adminLanguage = $this->language();
        $this->view->textsJson = $this->pageTexts(self::MODIFY_TEXTS);
        $this->view->pick('Modules/' . self::MODULE_ID . '/ModulePbxFederation/modify');
    }

    /** Validates with the worker first; any E_* problem shows field and reason and saves nothing. */
    public function savePeerAction(): void
    {
        if (!$this->request->isPost()) {
            return;
        }
        $peer = PeerInput::fromPost($this->request->getPost());
        $api = new FederationApi($this->workerClient(), Texts::fromDi(), $this->language());
        $answer = $api->handle(['action' => 'validate', 'data' => ['peer' => $peer]]);
        $this->view->problems = $answer['data']['problems'] ?? [];
        if ($answer['result'] !== true) {
            $this->refused($answer);
            return;
        }
        foreach ($answer['messages']['warning'] ?? [] as $message) {
            $this->flash->warning(self::escape($message));
        }
        $record = isset($peer['id']) ? ModulePbxFederationPeers::findFirstById($peer['id']) : null;
        if ($record === null) {
            $record = new ModulePbxFederationPeers();
        }
        foreach (PeerInput::FIELDS as $field) {
            $record->$field = $peer[$field] === null ? null : (string)$peer[$field];
        }
        $this->saveEntity($record, self::INDEX_URL);
    }

    /** POST only (the table's two-step delete button posts the id); a GET deletes nothing. */
    public function deletePeerAction(string $peerId = ''): void
    {
        if (!$this->request->isPost()) {
            $this->view->success = false;
            $this->forward(self::INDEX_URL);
            return;
        }
        $id = (string)$this->request->getPost('id', null, $peerId);
        $record = ctype_digit($id) ? ModulePbxFederationPeers::findFirstById($id) : null;
        if ($record === null) {
            $this->view->success = false;
            return;
        }
        $this->deleteEntity($record, self::INDEX_URL);
    }

    /**
     * A refused save: the problems go to the form (under their fields, drawn by the page's script); the message at
     * the top says only that nothing was saved, or, for a fault of the worker, what the fault was.
     *
     * @param array{result: bool, data: array, messages: array} $answer
     */
    private function refused(array $answer): void
    {
        $problems = $answer['data']['problems'] ?? [];
        $this->view->problems = $problems;
        if ($problems !== []) {
            $this->flash->error(self::escape((string)$this->translation->_('module_pbx_federation_ValidationFailed')));
        } else {
            foreach ($answer['messages']['error'] ?? [] as $message) {
                $this->flash->error(self::escape((string)$message));
            }
        }
        $this->view->success = false;
    }

    /**
     * Core's form.js and UserMessage insert an answer's messages as HTML; the worker's texts quote what the
     * admin typed, so they go out as text.
     */
    private static function escape(string $message): string
    {
        return htmlspecialchars($message, ENT_QUOTES | ENT_SUBSTITUTE, 'UTF-8');
    }

    /** @param string[] $keys */
    private function pageTexts(array $keys): string
    {
        $texts = [];
        foreach ($keys as $key) {
            $texts[$key] = (string)$this->translation->_('module_pbx_federation_' . $key);
        }
        return (string)json_encode($texts, JSON_UNESCAPED_UNICODE | JSON_HEX_TAG | JSON_HEX_AMP);
    }

    private function workerClient(): WorkerClient
    {
        return new WorkerClient(WorkerPaths::forThisModule(), new ShellCommandRunner(), new ModuleLog());
    }

    private function language(): string
    {
        return AdminLanguage::current();
    }
}
