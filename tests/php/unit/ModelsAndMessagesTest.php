<?php

namespace PbxFederationTests;

use Modules\ModulePbxFederation\Models\ModulePbxFederation;
use Modules\ModulePbxFederation\Models\ModulePbxFederationDirectory;
use Modules\ModulePbxFederation\Models\ModulePbxFederationPeers;
use PHPUnit\Framework\TestCase;

/** The models carry exactly docs/design.md's columns; translations are complete and hold no problem texts (ReloadCore: tests/realcore/tests/ReloadCoreTest.php). */
final class ModelsAndMessagesTest extends TestCase
{
    /** @return array<string, string> column => annotation type, in declaration order */
    private static function columns(string $class): array
    {
        $columns = [];
        foreach ((new \ReflectionClass($class))->getProperties(\ReflectionProperty::IS_PUBLIC) as $property) {
            $doc = (string)$property->getDocComment();
            self::assertSame(1, preg_match('/@Column\(type="(\w+)"/', $doc, $m), $property->getName());
            $columns[$property->getName()] = $m[1];
        }
        return $columns;
    }

    public function testSettingsModelColumns(): void
    {
        self::assertSame([
            'id' => 'integer', 'station_name' => 'string', 'display_name' => 'string', 'own_patterns' => 'string',
            'blf_default' => 'integer', 'transfers_default' => 'integer', 'overlap_fix_default' => 'integer',
            'public_number' => 'string', 'public_trim' => 'integer', 'public_prepend' => 'string',
        ], self::columns(ModulePbxFederation::class));
        $model = new ModulePbxFederation();
        $model->initialize();
        self::assertSame('m_ModulePbxFederation', $model->getSource());
    }

    public function testPeersModelColumns(): void
    {
        self::assertSame([
            'id' => 'integer', 'name' => 'string', 'host' => 'string', 'port' => 'integer', 'transport' => 'string',
            'patterns' => 'string', 'secret' => 'string', 'enabled' => 'integer', 'blf' => 'integer',
            'transfers' => 'integer', 'overlap_fix' => 'integer', 'note' => 'string',
            'paired' => 'integer', 'sync_port' => 'integer', 'public_key' => 'string',
            'fallback_provider' => 'string', 'fallback_trim' => 'integer', 'fallback_prepend' => 'string',
            'transit_patterns' => 'string', 'transit_provider' => 'string', 'transit_limit' => 'integer',
            'transit_callerid' => 'string', 'via_patterns' => 'string',
        ], self::columns(ModulePbxFederationPeers::class));
        $model = new ModulePbxFederationPeers();
        $model->initialize();
        self::assertSame('m_ModulePbxFederationPeers', $model->getSource());
    }

    public function testDirectoryModelColumns(): void
    {
        self::assertSame([
            'id' => 'integer', 'peer' => 'string', 'version' => 'string', 'module_version' => 'string',
            'patterns' => 'string', 'entries' => 'string', 'received_at' => 'integer', 'transit_grant' => 'string',
        ], self::columns(ModulePbxFederationDirectory::class));
        $model = new ModulePbxFederationDirectory();
        $model->initialize();
        self::assertSame('m_ModulePbxFederationDirectory', $model->getSource());
    }

    public function testRussianAndEnglishHaveTheSameKeysAndEveryProblemCode(): void
    {
        $root = dirname(__DIR__, 3);
        $ru = include $root . '/Messages/ru.php';
        $en = include $root . '/Messages/en.php';
        self::assertSame(array_keys($ru), array_keys($en));
        foreach (['mo_ModulePbxFederation', 'BreadcrumbModulePbxFederation', 'SubHeaderModulePbxFederation'] as $key) {
            self::assertArrayHasKey($key, $ru);
        }
        // Problem texts have one home, the worker's catalog (python_worker/core/problems.py): every problem
        // reaches PHP and the page with its text in both languages, so no copy may drift here.
        self::assertSame([], preg_grep('/^module_pbx_federation_[EW]_/', array_keys($ru)));
        foreach ($ru as $key => $text) {
            self::assertNotSame('', trim($text), $key);
        }
    }

    public function testEveryKeyUsedInTheModuleIsTranslated(): void
    {
        $root = dirname(__DIR__, 3);
        $en = include $root . '/Messages/en.php';
        $sources = '';
        foreach (['Lib', 'Setup', 'App'] as $dir) {
            $files = new \RecursiveIteratorIterator(new \RecursiveDirectoryIterator($root . '/' . $dir, \FilesystemIterator::SKIP_DOTS));
            foreach ($files as $file) {
                $sources .= file_get_contents($file->getPathname());
            }
        }
        preg_match_all("/module_pbx_federation_([A-Z][A-Za-z]+)\\b/", $sources, $m);
        foreach (array_unique($m[0]) as $key) {
            self::assertArrayHasKey($key, $en, $key);
        }
        preg_match_all("/fail\\('([A-Za-z]+)'/", $sources, $m);
        foreach (array_unique($m[1]) as $key) {
            self::assertArrayHasKey('module_pbx_federation_' . $key, $en, $key);
        }
    }
}
