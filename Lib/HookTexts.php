<?php
/*
 * ModulePbxFederation: federation of MikoPBX stations.
 * Licensed under the GNU General Public License v3 or later.
 */

namespace Modules\ModulePbxFederation\Lib;

/**
 * Reads hooks.json, the worker's rendered text for each ConfigClass string hook.
 * A missing or broken file means "add nothing": Core must still be able to render its own config.
 */
final class HookTexts
{
    public const HOOKS = [
        'generatePeersPj',
        'extensionGenContexts',
        'extensionGenInternalTransfer',
        'extensionGenHints',
        'generateOutRoutContext',  // present only when a fallback route exists (the PHP side asks only then)
    ];

    /** @var string */
    private $file;

    /** @var ModuleLog */
    private $log;

    public function __construct(string $file, ModuleLog $log)
    {
        $this->file = $file;
        $this->log = $log;
    }

    /** The text for one hook, or '' (logged) when the worker has not produced it. */
    public function textFor(string $hook): string
    {
        if (!is_file($this->file)) {
            $this->log->warning("$hook: {$this->file} is missing, the worker has not rendered yet; nothing added");
            return '';
        }
        $raw = @file_get_contents($this->file);
        if ($raw === false) {
            $this->log->error("$hook: cannot read {$this->file}; nothing added");
            return '';
        }
        $hooks = json_decode($raw, true);
        if (!is_array($hooks)) {
            $this->log->error("$hook: {$this->file} is not a JSON object (" . json_last_error_msg() . '); nothing added');
            return '';
        }
        if (!array_key_exists($hook, $hooks)) {
            $this->log->warning("$hook: no entry in {$this->file}; nothing added");
            return '';
        }
        if (!is_string($hooks[$hook])) {
            $this->log->error("$hook: entry in {$this->file} is not a string; nothing added");
            return '';
        }
        return $hooks[$hook];
    }
}
