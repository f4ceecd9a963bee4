<?php
/*
 * The module's Volt views compiled by Phalcon 5.18.1's real Volt compiler, set up by Core's own
 * AdminCabinet VoltProvider (2026.1.223: the functions in_array, is_a, count, isAllowed, hookVoltBlock),
 * and the compiled PHP checked with `php -l`. Core's own partial the views include
 * (partials/submitbutton) is compiled the same way.
 */

declare(strict_types=1);

use MikoPBX\AdminCabinet\Providers\VoltProvider;
use PbxFedRealCore\RealCore;
use PbxFedRealCore\RealCoreTestCase;
use Phalcon\Di\Di;
use Phalcon\Mvc\View;

final class VoltTest extends RealCoreTestCase
{
    private static function compiler(): \Phalcon\Mvc\View\Engine\Volt\Compiler
    {
        $di = Di::getDefault();
        $view = new View();
        $view->setViewsDir(RealCore::coreDir() . '/src/AdminCabinet/Views/');
        $di->setShared('view', $view);
        (new VoltProvider())->register($di);
        $volt = $di->getShared(VoltProvider::SERVICE_NAME);
        return $volt->getCompiler();
    }

    /** @return list<string> */
    private static function templates(): array
    {
        $files = glob(RealCore::moduleDir() . '/App/Views/*/*.volt') ?: [];
        sort($files);
        return $files;
    }

    public function testModuleViewsCompileAndTheCompiledPhpParses(): void
    {
        $templates = self::templates();
        self::assertCount(2, $templates, 'index.volt and modify.volt');
        $templates[] = RealCore::coreDir() . '/src/AdminCabinet/Views/partials/submitbutton.volt';
        $out = RealCore::runtime() . '/volt-compiled';
        @mkdir($out, 0755, true);
        foreach ($templates as $src) {
            $compiler = self::compiler();
            $dst = $out . '/' . basename(dirname($src)) . '-' . basename($src) . '.php';
            $compiler->compileFile($src, $dst);
            self::assertFileExists($dst);
            $php = (string)file_get_contents($dst);
            self::assertMatchesRegularExpression('/<\?(php|=)/', $php, basename($src) . ' compiled to PHP');
            self::assertStringNotContainsString('{{', $php, basename($src) . ': nothing left uncompiled');
            exec('php -l ' . escapeshellarg($dst) . ' 2>&1', $lint, $rc);
            self::assertSame(0, $rc, basename($src) . ': ' . implode("\n", $lint));
        }
    }

    public function testTheCompilerKnowsCoresFunctions(): void
    {
        // Core's VoltProvider registers these; an unknown function would compile to a plain call.
        $php = self::compiler()->compileString("{{ count(peers) }}{% if in_array('a', list) %}x{% endif %}");
        self::assertStringContainsString('count($peers)', $php);
        self::assertStringContainsString("in_array('a', \$list)", $php);
    }
}
