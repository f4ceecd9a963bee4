<?php
/*
 * Every PHP class of the module loads through Core's autoloader (Phalcon Loader, namespace "Modules" =>
 * core.modulesDir) and links against Core 2026.1.223's real base classes under Phalcon 5.18.1: PHP checks
 * each overriding method's signature against the parent at that moment. The admin forms are built on
 * Core's BaseForm with the real translation service, and App/Module.php registers its dispatcher.
 */

declare(strict_types=1);

use MikoPBX\AdminCabinet\Controllers\BaseController;
use MikoPBX\AdminCabinet\Forms\BaseForm;
use MikoPBX\Modules\Config\ConfigClass;
use MikoPBX\Modules\Models\ModulesModelsBase;
use MikoPBX\Modules\Setup\PbxExtensionSetupBase;
use Modules\ModulePbxFederation\App\Forms\ModulePbxFederationForm;
use Modules\ModulePbxFederation\App\Forms\ModulePbxFederationPeerForm;
use Modules\ModulePbxFederation\Models\ModulePbxFederation;
use Modules\ModulePbxFederation\Models\ModulePbxFederationPeers;
use PbxFedRealCore\RealCore;
use PbxFedRealCore\RealCoreTestCase;
use Phalcon\Di\Di;

final class AdminClassesTest extends RealCoreTestCase
{
    /** @return list<array{string, string}> [class, file] of every PHP file of the module's code directories */
    public static function moduleClasses(): array
    {
        $dir = RealCore::moduleDir();
        $out = [];
        foreach (['App', 'Lib', 'Models', 'Setup'] as $top) {
            $it = new RecursiveIteratorIterator(new RecursiveDirectoryIterator("$dir/$top", FilesystemIterator::SKIP_DOTS));
            foreach ($it as $file) {
                if ($file->getExtension() !== 'php') {
                    continue;
                }
                $rel = substr($file->getPathname(), strlen($dir) + 1, -4);
                $out[] = ['Modules\\' . RealCore::MODULE_ID . '\\' . str_replace('/', '\\', $rel), $rel . '.php'];
            }
        }
        sort($out);
        return $out;
    }

    public function testEveryClassLoadsAndLinksAgainstCore(): void
    {
        $classes = self::moduleClasses();
        self::assertGreaterThan(15, count($classes));
        foreach ($classes as [$class, $file]) {
            if (str_ends_with($file, 'Lib/ReloadCore.php')) {
                continue; // a script run with php -f, not a class (checked by its own test below)
            }
            self::assertTrue(
                class_exists($class) || interface_exists($class) || trait_exists($class),
                "$file does not declare $class"
            );
        }
        self::assertTrue(is_subclass_of(\Modules\ModulePbxFederation\Lib\PbxFederationConf::class, ConfigClass::class));
        self::assertTrue(is_subclass_of(\Modules\ModulePbxFederation\Setup\PbxExtensionSetup::class, PbxExtensionSetupBase::class));
        self::assertTrue(is_subclass_of(ModulePbxFederationPeers::class, ModulesModelsBase::class));
        self::assertTrue(is_subclass_of(\Modules\ModulePbxFederation\App\Controllers\ModulePbxFederationController::class, BaseController::class));
        self::assertTrue(is_subclass_of(ModulePbxFederationForm::class, BaseForm::class));
    }

    public function testSettingsFormBuildsOnCoresBaseForm(): void
    {
        $settings = new ModulePbxFederation();
        $settings->station_name = 'moscow';
        $settings->own_patterns = '2XX';
        $settings->blf_default = '1';
        $settings->transfers_default = '0';
        $settings->overlap_fix_default = '0';
        $form = new ModulePbxFederationForm($settings);
        $html = $form->render('station_name');
        self::assertStringContainsString('value="moscow"', $html);
        self::assertStringContainsString('maxlength="32"', $html);
        self::assertStringContainsString('checked', $form->render('blf_default'));
        self::assertStringNotContainsString('checked', $form->render('transfers_default'));
    }

    public function testPeerFormBuildsWithCoresTranslation(): void
    {
        $peer = new ModulePbxFederationPeers();
        $peer->name = 'spb';
        $peer->host = '127.0.0.3';
        $peer->port = '5060';
        $peer->transport = 'tcp';
        $peer->enabled = '1';
        $peer->blf = '0';
        $peer->note = 'St Petersburg office';
        $translation = Di::getDefault()->getShared('translation');
        $form = new ModulePbxFederationPeerForm($peer, ['translation' => $translation]);
        self::assertStringContainsString('selected', $form->render('transport'));
        self::assertMatchesRegularExpression('/<option selected="selected" value="tcp">|<option value="tcp" selected="selected">/', $form->render('transport'));
        $blf = $form->render('blf');
        self::assertStringContainsString(htmlspecialchars($translation->_('module_pbx_federation_Off')), $blf);
        self::assertNotSame('module_pbx_federation_Off', $translation->_('module_pbx_federation_Off'));
        self::assertStringContainsString('St Petersburg office', $form->render('note'));
    }

    public function testModuleDefinitionRegistersTheModulesDispatcher(): void
    {
        $module = new \Modules\ModulePbxFederation\App\Module();
        self::assertInstanceOf(\Phalcon\Mvc\ModuleDefinitionInterface::class, $module);
        $di = new \Phalcon\Di\FactoryDefault();
        $module->registerServices($di);
        self::assertSame('Modules\\ModulePbxFederation\\App\\Controllers\\', $di->get('dispatcher')->getDefaultNamespace());
    }

    public function testReloadScriptParsesUnderThisPhp(): void
    {
        exec('php -l ' . escapeshellarg(RealCore::moduleDir() . '/Lib/ReloadCore.php') . ' 2>&1', $out, $rc);
        self::assertSame(0, $rc, implode("\n", $out));
    }
}
