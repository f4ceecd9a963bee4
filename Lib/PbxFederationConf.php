<?php
/*
 * ModulePbxFederation: federation of MikoPBX stations.
 * Licensed under the GNU General Public License v3 or later.
 */

namespace Modules\ModulePbxFederation\Lib;

use MikoPBX\Modules\Config\ConfigClass;
use MikoPBX\PBXCoreREST\Lib\PBXApiResult;
use Modules\ModulePbxFederation\Models\ModulePbxFederation;
use Modules\ModulePbxFederation\Models\ModulePbxFederationPeers;

/**
 * Core's hooks. String hooks return what the worker rendered into hooks.json; system hooks only
 * start, stop or signal the worker. No configuration text is built here.
 */
class PbxFederationConf extends ConfigClass
{
    /** Models whose change must make the worker reconcile. */
    public const OWN_MODELS = [ModulePbxFederation::class, ModulePbxFederationPeers::class];

    /** @var WorkerClient|null */
    private $worker;

    /** @var ModuleLog|null */
    private $log;

    /** @var CoreReloader|null */
    private $reloader;

    /** @var Texts|null */
    private $texts;

    /** Lets tests (and nothing else) hand in fakes instead of the real edges. */
    public function useCollaborators(
        WorkerClient $worker,
        ModuleLog $log,
        CoreReloader $reloader,
        Texts $texts
    ): void {
        $this->worker = $worker;
        $this->log = $log;
        $this->reloader = $reloader;
        $this->texts = $texts;
    }

    private function paths(): WorkerPaths
    {
        $dir = (isset($this->moduleDir) && $this->moduleDir !== '') ? $this->moduleDir : dirname(__DIR__);
        return new WorkerPaths($dir);
    }

    private function log(): ModuleLog
    {
        if ($this->log === null) {
            $this->log = new ModuleLog();
        }
        return $this->log;
    }

    private function worker(): WorkerClient
    {
        if ($this->worker === null) {
            $this->worker = new WorkerClient($this->paths(), new ShellCommandRunner(), $this->log());
        }
        return $this->worker;
    }

    private function reloader(): CoreReloader
    {
        if ($this->reloader === null) {
            $this->reloader = new CoreReloader($this->log());
        }
        return $this->reloader;
    }

    private function texts(): Texts
    {
        if ($this->texts === null) {
            $this->texts = Texts::fromDi();
        }
        return $this->texts;
    }

    private function hookText(string $hook): string
    {
        return (new HookTexts($this->worker()->paths()->hooksFile(), $this->log()))->textFor($hook);
    }

    public function generatePeersPj(): string
    {
        return $this->hookText('generatePeersPj');
    }

    public function extensionGenContexts(): string
    {
        return $this->hookText('extensionGenContexts');
    }

    public function extensionGenInternalTransfer(): string
    {
        return $this->hookText('extensionGenInternalTransfer');
    }

    public function extensionGenHints(): string
    {
        return $this->hookText('extensionGenHints');
    }

    /**
     * Core calls this inside every outgoing route's context, before its Dial, with the route's row. Only the
     * module's own fallback routes (their note starts with contract.json's fallback_route_note_prefix) get the
     * worker's text: dial only when the peer's trunk answered nothing at all, with the caller's public number.
     * Every other route, the admin's included, gets nothing.
     *
     * @param array<string, mixed> $rout
     */
    public function generateOutRoutContext(array $rout): string
    {
        $prefix = WorkerPaths::fallbackRouteNotePrefix();
        $note = (string)($rout['note'] ?? '');
        if ($prefix === '' || strpos($note, $prefix) !== 0) {
            return '';
        }
        return $this->hookText('generateOutRoutContext');
    }

    /**
     * @param mixed $data ['model' => class, 'recordId' => ..., ...] from WorkerModelsEvents
     */
    public function modelsEventChangeData($data): void
    {
        $model = is_array($data) ? ($data['model'] ?? '') : '';
        if (in_array($model, self::OWN_MODELS, true)) {
            $this->worker()->signalReconcile();
        }
    }

    private function lifecycle(): ModuleLifecycle
    {
        return new ModuleLifecycle($this->paths(), $this->worker(), $this->log());
    }

    /**
     * Core calls this inside its write transaction on mikopbx.db (PbxExtensionState::makeBeforeEnableTest, both
     * tags) and once more after it: only file checks here, no process. The runtime is built at install.
     */
    public function onBeforeModuleEnable(): bool
    {
        if ($this->worker()->isInstalled()) {
            return true;
        }
        $this->messages[] = $this->texts()->get('module_pbx_federation_EnableNeedsRuntime');
        return false;
    }

    /**
     * Runs twice on 2026.1 (synchronously, then from WorkerModelsEvents), once and later on 2024.1: start() is a
     * no-op when the worker runs. After an upgrade pjsip and the dialplan are reloaded once, so Asterisk has the
     * module's hook texts again whatever was regenerated while it was disabled.
     */
    public function onAfterModuleEnable(): void
    {
        $upgraded = $this->lifecycle()->finishUpgrade();
        $this->worker()->start();
        if ($upgraded) {
            $this->reloader()->reload(['pjsip', 'dialplan']);
        }
    }

    /**
     * Core's upgrade starts with a disable (ModuleInstallationBase::startModuleInstallation): the worker stops
     * before Core saves the module disabled, so nothing removes the rows (ModuleLifecycle). Never refuses.
     */
    public function onBeforeModuleDisable(): bool
    {
        $life = $this->lifecycle();
        if (ModuleLifecycle::calledByCoresInstaller()) {
            $life->markUpgrade('disable');
            $this->worker()->stop();
        }
        return true;
    }

    /**
     * Runs twice on 2026.1, once and later on 2024.1 (from WorkerModelsEvents, only while the module and its class
     * still exist). Each step is idempotent: stop does nothing when stopped, the removal finds nothing the second
     * time. A late call for a module that is enabled again is ignored; during an upgrade the rows stay.
     */
    public function onAfterModuleDisable(): void
    {
        if (self::moduleIsEnabled()) {
            $this->log()->info('disable hook called while the module is enabled again: nothing to do');
            return;
        }
        $life = $this->lifecycle();
        $this->worker()->stop();
        if ($life->isUpgrading()) {
            $life->markUpgrade('disable');
            return;
        }
        $life->removeOwnedRecords();
    }

    /** The module's row in m_PbxExtensionModules says enabled ('0'); false when unknown. */
    private static function moduleIsEnabled(): bool
    {
        $model = 'MikoPBX\\Common\\Models\\PbxExtensionModules';
        if (!class_exists($model)) {
            return false;
        }
        try {
            $row = $model::findFirst(['uniqid = :id:', 'bind' => ['id' => 'ModulePbxFederation']]);
        } catch (\Throwable $e) {
            return false;
        }
        return $row !== null && (string)$row->disabled === '0';
    }

    public function onAfterPbxStarted(): void
    {
        $this->worker()->start();
    }

    /**
     * @param array<int, string> $tasks crontab lines
     */
    public function createCronTasks(array &$tasks): void
    {
        $script = $this->worker()->paths()->safeScript();
        $tasks[] = '*/1 * * * * ' . escapeshellarg($script) . " > /dev/null 2> /dev/null\n";
    }

    /**
     * The directory-sync port: 'block' for every network filter by default; the worker's own allow rows open it
     * for paired peers' filters and, while an invitation made for an address is pending, for that address.
     * Core stores the category upper-cased (PbxExtensionState::enableFirewallSettings, both tags): the key is given
     * so, and the worker writes its rows in the same category with the same port keys (python_worker/contract.json),
     * so Core's Firewall page shows one state per filter. The keys are given because 2024.1's page reads them
     * without a fallback (FirewallController::updateFirewallRules).
     *
     * @return array<string, array<string, mixed>>
     */
    public function getDefaultFirewallRules(): array
    {
        $port = WorkerPaths::syncPort();
        $contract = WorkerPaths::contract();
        $category = (string)($contract['firewall_category'] ?? '');
        $key = (string)($contract['sync_port_key'] ?? '');
        if ($port <= 0 || $category === '' || $key === '') {
            $this->log()->error('python_worker/contract.json is unreadable: no firewall rule for the sync port');
            return [];
        }
        return [
            $category => [
                'rules' => [
                    ['portfrom' => $port, 'portto' => $port, 'protocol' => 'tcp', 'name' => $key,
                        'portFromKey' => $key, 'portToKey' => $key],
                ],
                'action' => 'block',
                'shortName' => 'PBX federation',
            ],
        ];
    }

    public function moduleRestAPICallback(array $request): PBXApiResult
    {
        $answer = (new FederationApi($this->worker(), $this->texts(), AdminLanguage::current()))->handle($request);
        $res = new PBXApiResult();
        $res->processor = __METHOD__;
        $res->function = (string)($request['action'] ?? '');
        $res->success = $answer['result'];
        $res->data = $answer['data'];
        $res->messages = $answer['messages'];
        return $res;
    }
}
