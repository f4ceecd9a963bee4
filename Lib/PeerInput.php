<?php
/*
 * ModulePbxFederation: federation of MikoPBX stations.
 * Licensed under the GNU General Public License v3 or later.
 */

namespace Modules\ModulePbxFederation\Lib;

/**
 * Turns the peer form's POST into the row shape the worker validates and the model stores.
 */
final class PeerInput
{
    public const FIELDS = ['name', 'host', 'port', 'transport', 'patterns', 'secret', 'enabled',
        'blf', 'transfers', 'overlap_fix', 'note'];

    /**
     * @param array<string, mixed> $post
     * @return array<string, mixed> every model column but id; id added when editing
     */
    public static function fromPost(array $post): array
    {
        $text = static function (string $key) use ($post): string {
            return trim((string)($post[$key] ?? ''));
        };
        $triState = static function (string $key) use ($post): ?int {
            $value = (string)($post[$key] ?? '');
            return $value === '' ? null : ($value === '1' ? 1 : 0);
        };
        $port = $text('port');
        $peer = [
            'name' => $text('name'),
            'host' => $text('host'),
            'port' => ctype_digit($port) ? (int)$port : ($port === '' ? 5060 : $port),
            'transport' => strtolower($text('transport')),
            'patterns' => implode(',', array_values(array_filter(array_map('trim', explode(',', $text('patterns'))), 'strlen'))),
            'secret' => (string)($post['secret'] ?? ''),
            'enabled' => in_array($post['enabled'] ?? '', ['on', '1', 1, true], true) ? 1 : 0,
            'blf' => $triState('blf'),
            'transfers' => $triState('transfers'),
            'overlap_fix' => $triState('overlap_fix'),
            'note' => (string)($post['note'] ?? ''),
        ];
        $id = $text('id');
        if ($id !== '' && ctype_digit($id)) {
            $peer['id'] = (int)$id;
        }
        return $peer;
    }
}
