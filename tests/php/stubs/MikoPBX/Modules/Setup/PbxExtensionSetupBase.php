<?php
// Test stand-in for MikoPBX Core's PbxExtensionSetupBase: records the steps the module calls.

namespace MikoPBX\Modules\Setup;

abstract class PbxExtensionSetupBase
{
    public static $testModulesDir = '/tmp';
    public static $testPbxCompatible = true;
    /** @var string[] */
    public static $calls = [];

    protected string $moduleUniqueID;
    protected string $moduleDir;
    protected array $messages = [];

    public function __construct(string $moduleUniqueID)
    {
        $this->moduleUniqueID = $moduleUniqueID;
        $this->moduleDir = self::$testModulesDir . '/' . $moduleUniqueID;
        $this->messages = [];
    }

    public function installModule(): bool
    {
        return $this->checkCompatibility() && $this->installFiles();
    }

    public function checkCompatibility(): bool
    {
        self::$calls[] = 'core:checkCompatibility';
        if (!self::$testPbxCompatible) {
            $this->messages[] = 'ext_ModuleDependsHigherVersion';
        }
        return self::$testPbxCompatible;
    }

    public function installFiles(): bool
    {
        self::$calls[] = 'core:installFiles';
        return true;
    }

    public function uninstallModule(bool $keepSettings = false): bool
    {
        return $this->unInstallDB($keepSettings) && $this->unInstallFiles($keepSettings);
    }

    public function unInstallDB(bool $keepSettings = false): bool
    {
        self::$calls[] = 'core:unInstallDB';
        return true;
    }

    public function unInstallFiles(bool $keepSettings = false): bool
    {
        self::$calls[] = 'core:unInstallFiles:' . ($keepSettings ? 'keep' : 'drop');
        return true;
    }

    public function getMessages(): array
    {
        return $this->messages;
    }
}
