<?php
/*
 * Core 2026.1.223 renders pjsip.conf and extensions.conf from a given mikopbx.db and the module's hooks.json
 * (the module installed and enabled, as on a station), with its own SIPConf / ExtensionsConf.
 * Used by `tests/realcore/run.sh --render <mikopbx.db> <hooks.json> <out dir>`; inputs are in <runtime>/render-in.
 */

declare(strict_types=1);

$in = getenv('PBXFED_RUNTIME') . '/render-in';
$settings = json_decode((string)file_get_contents('/etc/inc/mikopbx-settings.json'), true);
copy("$in/mikopbx.db", $settings['database']['dbfile']);
require __DIR__ . '/../bootstrap.php';

use MikoPBX\Common\Models\PbxExtensionModules;
use MikoPBX\Common\Providers\PBXConfModulesProvider;
use Modules\ModulePbxFederation\Setup\PbxExtensionSetup;

ob_start();
$ok = (new PbxExtensionSetup('ModulePbxFederation'))->installDB();
ob_end_clean();
$row = PbxExtensionModules::findFirstByUniqid('ModulePbxFederation');
if (!$ok || $row === null) {
    fwrite(STDERR, "render_configs: installDB failed\n");
    exit(1);
}
$row->disabled = '0';
$row->save();
PBXConfModulesProvider::recreateModulesProvider();
$state = getenv('PBXFED_RUNTIME') . '/custom_modules/ModulePbxFederation/db/state';
@mkdir($state, 0755, true);
if (is_file("$in/hooks.json")) {
    copy("$in/hooks.json", "$state/hooks.json");
}
$rc = 0;
foreach (['SIPConf' => 'pjsip.conf', 'ExtensionsConf' => 'extensions.conf'] as $class => $file) {
    $fqcn = "MikoPBX\\Core\\Asterisk\\Configs\\$class";
    try {
        (new $fqcn())->generateConfig();
        copy($settings['asterisk']['astetcdir'] . "/$file", "$in/out-$file");
        echo "$file written by Core's $class\n";
    } catch (Throwable $e) {
        fwrite(STDERR, "$class: " . get_class($e) . ': ' . $e->getMessage() . ' at ' . $e->getFile() . ':' . $e->getLine() . "\n");
        $rc = 1;
    }
}
exit($rc);
