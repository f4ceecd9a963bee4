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

    public function initialize(): void
    {
        $this->view->logoImagePath = $this->url->get() . 'assets/img/cache/' . self::MODULE_ID . '/logo.svg';
        $this->view->submitMode = null;
        parent::initialize();
    }

    public function indexAction(): void
    {
        $this->assets->collection(AssetProvider::FOOTER_JS)
            ->addJs('js/pbx/main/form.js', true)
            ->addJs('js/cache/' . self::MODULE_ID . '/module-pbx-federation-index.js', true);

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
            ];
        }
        $this->view->peers = $peers;
        $this->view->adminLanguage = $this->language();
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
            foreach ($answer['messages']['error'] ?? [] as $message) {
                $this->flash->error($message);
            }
            $this->view->success = false;
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
            foreach ($answer['messages']['error'] ?? [] as $message) {
                $this->flash->error($message);
            }
            $this->view->success = false;
            return;
        }
        foreach ($answer['messages']['warning'] ?? [] as $message) {
            $this->flash->warning($message);
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

    public function deletePeerAction(string $peerId = ''): void
    {
        $record = ModulePbxFederationPeers::findFirstById($peerId);
        if ($record !== null) {
            $this->deleteEntity($record, self::INDEX_URL);
        }
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
