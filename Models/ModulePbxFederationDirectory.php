<?php
/*
 * ModulePbxFederation: federation of MikoPBX stations.
 * Licensed under the GNU General Public License v3 or later.
 */

namespace Modules\ModulePbxFederation\Models;

use MikoPBX\Modules\Models\ModulesModelsBase;

/**
 * The last directory each paired peer sent (one row per peer), written by the worker's sync service.
 * docs/sync.md is the contract; python_worker/models.py mirrors these annotations column by column.
 */
class ModulePbxFederationDirectory extends ModulesModelsBase
{
    /**
     * @Primary
     * @Identity
     * @Column(type="integer", nullable=false)
     */
    public $id;

    /**
     * The peer's station name (m_ModulePbxFederationPeers.name)
     *
     * @Column(type="string", nullable=true)
     */
    public $peer;

    /**
     * Directory version: a digest of its content, compared on every reconnect and heartbeat
     *
     * @Column(type="string", nullable=true)
     */
    public $version;

    /**
     * The peer's module version
     *
     * @Column(type="string", nullable=true)
     */
    public $module_version;

    /**
     * The peer's own patterns, comma-separated
     *
     * @Column(type="string", nullable=true)
     */
    public $patterns;

    /**
     * JSON list of [number, display name, kind]
     *
     * @Column(type="string", nullable=true)
     */
    public $entries;

    /**
     * Unix time of receipt
     *
     * @Column(type="integer", nullable=true)
     */
    public $received_at;

    /**
     * The numbers the peer lets this station call out through it (its transit grant), as it sent them
     *
     * @Column(type="string", nullable=true)
     */
    public $transit_grant;

    public function initialize(): void
    {
        $this->setSource('m_ModulePbxFederationDirectory');
        parent::initialize();
    }
}
