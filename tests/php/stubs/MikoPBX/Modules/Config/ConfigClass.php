<?php
// Test stand-in for MikoPBX Core's ConfigClass: only the members the module touches.

namespace MikoPBX\Modules\Config;

abstract class ConfigClass
{
    /** Set by tests: where "core.modulesDir" points. */
    public static $testModulesDir = '/tmp';

    /** Set by tests: PbxSettings values. */
    public static $testGeneralSettings = [];

    public string $moduleUniqueId = '';
    protected string $moduleDir;
    protected array $messages = [];
    protected array $generalSettings = [];

    public function __construct()
    {
        $parts = explode('\\', (new \ReflectionClass(static::class))->getNamespaceName());
        if (count($parts) === 3 && $parts[0] === 'Modules') {
            $this->moduleUniqueId = $parts[1];
            $this->moduleDir = self::$testModulesDir . '/' . $parts[1];
        }
        $this->generalSettings = self::$testGeneralSettings;
        $this->messages = [];
    }

    public function getMessages(): array
    {
        return $this->messages;
    }

    public function generatePeersPj(): string { return ''; }
    public function extensionGenContexts(): string { return ''; }
    public function extensionGenInternalTransfer(): string { return ''; }
    public function extensionGenHints(): string { return ''; }
    /** @param array<string, mixed> $rout */
    public function generateOutRoutContext(array $rout): string { return ''; }
    public function modelsEventChangeData($data): void {}
    public function onBeforeModuleEnable(): bool { return true; }
    public function onAfterModuleEnable(): void {}
    public function onAfterModuleDisable(): void {}
    public function onAfterPbxStarted(): void {}
    public function createCronTasks(array &$tasks): void {}
    public function getDefaultFirewallRules(): array { return []; }
    public function moduleRestAPICallback(array $request): \MikoPBX\PBXCoreREST\Lib\PBXApiResult
    {
        return new \MikoPBX\PBXCoreREST\Lib\PBXApiResult();
    }
}
