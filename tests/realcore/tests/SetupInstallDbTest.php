<?php
/*
 * The module's installer through Core's PbxExtensionSetupBase (2026.1.223): installDB() creates the module
 * tables from the Models' annotations with Core's UpdateDatabase, registers the module (disabled) in
 * m_PbxExtensionModules and adds the sidebar item; unInstallDB() unregisters it.
 */

declare(strict_types=1);

use MikoPBX\Common\Models\PbxExtensionModules;
use MikoPBX\Common\Models\PbxSettings;
use Modules\ModulePbxFederation\Setup\PbxExtensionSetup;
use PbxFedRealCore\RealCore;
use PbxFedRealCore\RealCoreTestCase;
use Phalcon\Di\Di;

final class SetupInstallDbTest extends RealCoreTestCase
{
    private const MODELS = [
        'm_ModulePbxFederation' => \Modules\ModulePbxFederation\Models\ModulePbxFederation::class,
        'm_ModulePbxFederationPeers' => \Modules\ModulePbxFederation\Models\ModulePbxFederationPeers::class,
        'm_ModulePbxFederationDirectory' => \Modules\ModulePbxFederation\Models\ModulePbxFederationDirectory::class,
    ];

    /** @return array<string, list<string>> table => column names, read with SQLite itself */
    private static function moduleTables(): array
    {
        $file = RealCore::moduleDir() . '/db/module.db';
        self::assertFileExists($file);
        $db = new SQLite3($file, SQLITE3_OPEN_READONLY);
        $tables = [];
        $res = $db->query("SELECT name FROM sqlite_master WHERE type='table' AND name LIKE 'm_%' ORDER BY name");
        while ($row = $res->fetchArray(SQLITE3_ASSOC)) {
            $cols = [];
            $info = $db->query('PRAGMA table_info(' . $row['name'] . ')');
            while ($c = $info->fetchArray(SQLITE3_ASSOC)) {
                $cols[] = $c['name'];
            }
            $tables[$row['name']] = $cols;
        }
        $db->close();
        return $tables;
    }

    public function testInstallDbCreatesTablesRegistersAndAddsSidebarItem(): void
    {
        $setup = new PbxExtensionSetup(RealCore::MODULE_ID);
        self::assertTrue($setup->installDB(), 'installDB: ' . implode('; ', $setup->getMessages()));

        $tables = self::moduleTables();
        self::assertSame(array_keys(self::MODELS), array_values(array_intersect(array_keys(self::MODELS), array_keys($tables))));
        // Every column the model declares (Phalcon's metadata from the @Column annotations) exists.
        foreach (self::MODELS as $table => $class) {
            $model = new $class();
            $attributes = $model->getModelsMetaData()->getAttributes($model);
            sort($attributes);
            $cols = $tables[$table];
            sort($cols);
            self::assertSame($attributes, $cols, "$table columns");
        }

        $row = PbxExtensionModules::findFirstByUniqid(RealCore::MODULE_ID);
        self::assertNotNull($row, 'module registered');
        $json = json_decode((string)file_get_contents(RealCore::moduleDir() . '/module.json'), true);
        self::assertSame($json['version'], $row->version);
        self::assertSame('1', (string)$row->disabled, 'registered disabled');
        self::assertSame($json['developer'], $row->developer);
        self::assertSame($json['wiki_links'], json_decode((string)$row->wiki_links, true));
        // The name and description come from the module's Messages through Core's translation service.
        $t = Di::getDefault()->getShared('translation');
        self::assertSame($t->_('BreadcrumbModulePbxFederation'), $row->name);
        self::assertNotSame('BreadcrumbModulePbxFederation', $row->name, 'the module\'s Messages/*.php are merged');

        $menu = PbxSettings::findFirstByKey('AdditionalMenuItem' . RealCore::MODULE_ID);
        self::assertNotNull($menu, 'sidebar item');
        self::assertSame([
            'uniqid' => RealCore::MODULE_ID,
            'group' => 'modules',
            'iconClass' => 'puzzle',
            'caption' => 'BreadcrumbModulePbxFederation',
            'showAtSidebar' => true,
        ], json_decode((string)$menu->value, true));
    }

    #[\PHPUnit\Framework\Attributes\Depends('testInstallDbCreatesTablesRegistersAndAddsSidebarItem')]
    public function testInstallDbAgainKeepsOneRegistrationAndTheData(): void
    {
        $file = RealCore::moduleDir() . '/db/module.db';
        $db = new SQLite3($file);
        $db->exec("INSERT INTO m_ModulePbxFederationPeers (name, host, patterns) VALUES ('spb', '127.0.0.3', '3XX')");
        $db->close();

        $setup = new PbxExtensionSetup(RealCore::MODULE_ID);
        self::assertTrue($setup->installDB());
        self::assertCount(1, PbxExtensionModules::find(['uniqid = :u:', 'bind' => ['u' => RealCore::MODULE_ID]]));
        $db = new SQLite3($file, SQLITE3_OPEN_READONLY);
        self::assertSame('spb', $db->querySingle('SELECT name FROM m_ModulePbxFederationPeers'));
        $db->close();
    }

    #[\PHPUnit\Framework\Attributes\Depends('testInstallDbAgainKeepsOneRegistrationAndTheData')]
    public function testUnInstallDbUnregisters(): void
    {
        $setup = new PbxExtensionSetup(RealCore::MODULE_ID);
        self::assertTrue($setup->unInstallDB(false));
        self::assertNull(PbxExtensionModules::findFirstByUniqid(RealCore::MODULE_ID));
    }
}
