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

    /** @var PythonEnvironment|null */
    private $python;

    /** @var CoreReloader|null */
    private $reloader;

    /** @var Texts|null */
    private $texts;

    /** Lets tests (and nothing else) hand in fakes instead of the real edges. */
    public function useCollaborators(
        WorkerClient $worker,
        ModuleLog $log,
        PythonEnvironment $python,
        CoreReloader $reloader,
        Texts $texts
    ): void {
        $this->worker = $worker;
        $this->log = $log;
        $this->python = $python;
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

    private function python(): PythonEnvironment
    {
        if ($this->python === null) {
            $this->python = new PythonEnvironment($this->paths(), new ShellCommandRunner());
        }
        return $this->python;
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

    /** Refuses to enable without a usable python3 and worker venv; the messages say what is missing. */
    public function onBeforeModuleEnable(): bool
    {
        $python = $this->python();
        if ($python->ensure()) {
            return true;
        }
        foreach ($python->problems() as [$key, $params]) {
            $this->messages[] = $this->texts()->get($key, $params);
        }
        return false;
    }

    /** Runs twice in Core: start() is a no-op when the worker already runs. */
    public function onAfterModuleEnable(): void
    {
        $this->worker()->start();
    }

    /**
     * Runs twice in Core; each step is idempotent: stop does nothing when stopped, the worker's
     * disable removes only what still carries the ownership mark, and a reload of an unchanged
     * config changes nothing.
     */
    public function onAfterModuleDisable(): void
    {
        $worker = $this->worker();
        $worker->stop();
        if ($worker->isInstalled()) {
            $result = $worker->removeOwnedRecords();
            if (!$result->isOk()) {
                $this->log()->error('disable: owned records not removed (exit ' . $result->exitCode . '): '
                    . substr(trim($result->stderr), -500));
            }
        } else {
            $this->log()->error('disable: the worker is not installed, owned records left in mikopbx.db');
        }
        $this->reloader()->reload();
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
     *
     * @return array<string, array<string, mixed>>
     */
    public function getDefaultFirewallRules(): array
    {
        if (WorkerPaths::syncPort() <= 0) {
            $this->log()->error('python_worker/contract.json is unreadable: no firewall rule for the sync port');
            return [];
        }
        return [
            'ModulePbxFederation' => [
                'rules' => [
                    ['portfrom' => WorkerPaths::syncPort(), 'portto' => WorkerPaths::syncPort(), 'protocol' => 'tcp',
                        'name' => 'PbxFederationSyncPort'],
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
