<?php
// Autoloads the module (Modules\ModulePbxFederation\ -> repo root) and the Core stand-ins
// (MikoPBX\ -> tests/php/stubs/MikoPBX), plus the test helpers.

$repoRoot = dirname(__DIR__, 2);
spl_autoload_register(static function (string $class) use ($repoRoot): void {
    $prefixes = [
        'Modules\\ModulePbxFederation\\' => $repoRoot . '/',
        'MikoPBX\\' => __DIR__ . '/stubs/MikoPBX/',
        'Phalcon\\' => __DIR__ . '/stubs/Phalcon/',
        'PbxFederationTests\\' => __DIR__ . '/unit/',
    ];
    foreach ($prefixes as $prefix => $dir) {
        if (strpos($class, $prefix) === 0) {
            $file = $dir . str_replace('\\', '/', substr($class, strlen($prefix))) . '.php';
            if (is_file($file)) {
                require_once $file;
            }
            return;
        }
    }
});
