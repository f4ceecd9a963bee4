<?php
/*
 * Installs the module into one station's runtime the way Core's installer does after unpacking the zip
 * (PbxExtensionSetupBase::installModule() at 2026.1.223): Core's file steps of installFiles() (asset and view
 * links into Core's tree; the module's own installFiles() adds building its venv from the shipped wheels,
 * which the suite leaves out: the worker runs on the repository's .venv), installDB() (the module's tables
 * from the Models' annotations, registration, sidebar item), then marks it enabled. Enabling through PbxExtensionState would run onBeforeModuleEnable() (build the venv,
 * pip) and onAfterModuleEnable() (start the worker): the suite runs the worker with the repository's venv
 * and starts it itself (README.md, "Differences from a station").
 * Runs inside the chroot, in the station's mount namespace: php install_module.php
 */

declare(strict_types=1);

use MikoPBX\Common\Models\PbxExtensionModules;
use MikoPBX\Modules\PbxExtensionUtils;
use Modules\ModulePbxFederation\Setup\PbxExtensionSetup;

$core = (string)getenv('PBXFED_CORE_DIR');
require __DIR__ . '/quiet_guzzle.php';
$di = new \Phalcon\Di\FactoryDefault\Cli();
\Phalcon\Di\Di::setDefault($di);
require_once $core . '/src/Common/Config/ClassLoader.php';
\MikoPBX\Core\Config\RegisterDIServices::init();

$setup = new PbxExtensionSetup('ModulePbxFederation');
PbxExtensionUtils::createAssetsSymlinks('ModulePbxFederation');
PbxExtensionUtils::createViewSymlinks('ModulePbxFederation');
if (!$setup->installDB()) {
    fwrite(STDERR, "install failed: " . implode('; ', $setup->getMessages()) . "\n");
    exit(1);
}
$row = PbxExtensionModules::findFirstByUniqid('ModulePbxFederation');
if ($row === null) {
    fwrite(STDERR, "the module is not registered\n");
    exit(1);
}
$row->disabled = '0';
if (!$row->save()) {
    fwrite(STDERR, "cannot enable: " . implode('; ', $row->getMessages()) . "\n");
    exit(1);
}
echo "installed and enabled\n";
