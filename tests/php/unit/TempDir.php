<?php

namespace PbxFederationTests;

/** A throw-away module tree shaped like custom_modules/ModulePbxFederation. */
final class TempDir
{
    public static function make(): string
    {
        $dir = sys_get_temp_dir() . '/pbxfed-php-' . bin2hex(random_bytes(6));
        mkdir($dir . '/ModulePbxFederation/db/state', 0755, true);
        return $dir;
    }

    public static function remove(string $dir): void
    {
        if (!is_dir($dir)) {
            return;
        }
        $items = new \RecursiveIteratorIterator(
            new \RecursiveDirectoryIterator($dir, \FilesystemIterator::SKIP_DOTS),
            \RecursiveIteratorIterator::CHILD_FIRST
        );
        foreach ($items as $item) {
            ($item->isDir() && !$item->isLink()) ? rmdir($item->getPathname()) : unlink($item->getPathname());
        }
        rmdir($dir);
    }

    /** An installed module as WorkerClient::isInstalled() sees it: bin/pbxfed and the runtime's launcher. */
    public static function fakeInstall(string $moduleDir): void
    {
        @mkdir($moduleDir . '/python/cp311-x86_64', 0755, true);
        file_put_contents($moduleDir . '/python/boot.py', "# launcher\n");
        @mkdir($moduleDir . '/bin', 0755, true);
        file_put_contents($moduleDir . '/bin/pbxfed', "#!/bin/sh\nexit 0\n");
        chmod($moduleDir . '/bin/pbxfed', 0755);
    }
}
