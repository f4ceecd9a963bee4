<?php
/*
 * Boots MikoPBX Core's DI the way Core's own unit tests do at 2026.1.223 (tests/Unit/AbstractUnitTest.php):
 * a Phalcon FactoryDefault\Cli container set as the default, Core's src/Common/Config/ClassLoader.php
 * (Core's autoloader; it maps the "Modules" namespace to core.modulesDir of the settings file), then
 * MikoPBX\Core\Config\RegisterDIServices::init(). Runs inside the chroot (tests/realcore/inner.sh),
 * where /etc/inc/mikopbx-settings.json is the run's own and the module is installed in
 * <runtime>/custom_modules/ModulePbxFederation. The stand-ins for services that cannot run here are
 * registered afterwards by RealCore::installStandIns() (see README.md).
 */

declare(strict_types=1);

use MikoPBX\Core\Config\RegisterDIServices;
use Phalcon\Di\Di;
use Phalcon\Di\FactoryDefault;

$coreDir = getenv('PBXFED_CORE_DIR');
if (!is_string($coreDir) || !is_dir($coreDir . '/src')) {
    fwrite(STDERR, "bootstrap: PBXFED_CORE_DIR is not Core's source tree (run through tests/realcore/run.sh)\n");
    exit(1);
}
if (!extension_loaded('phalcon')) {
    fwrite(STDERR, "bootstrap: the phalcon extension is not loaded\n");
    exit(1);
}

$di = new FactoryDefault\Cli();
Di::reset();
Di::setDefault($di);
require_once $coreDir . '/src/Common/Config/ClassLoader.php';
RegisterDIServices::init();

// Core's worker classes (WorkerModelsEvents, ...) require_once 'Globals.php' (found through the station's
// include_path), which runs RegisterDIServices::init() again on the default DI. Load one now, once, so
// that happens before the stand-ins are installed and before any test runs.
class_exists(\MikoPBX\Core\Workers\WorkerModelsEvents::class);

require_once __DIR__ . '/lib/RealCore.php';
if (class_exists(\PHPUnit\Framework\TestCase::class)) {
    require_once __DIR__ . '/lib/RealCoreTestCase.php';
}
\PbxFedRealCore\RealCore::installStandIns();
