<?php
/*
 * ModulePbxFederation: federation of MikoPBX stations.
 * Licensed under the GNU General Public License v3 or later.
 */

namespace Modules\ModulePbxFederation\Models;

use MikoPBX\Modules\Models\ModulesModelsBase;

/**
 * Settings of this station (one row). docs/design.md "module.db" is the contract;
 * python_worker/models.py mirrors these annotations column by column.
 */
class ModulePbxFederation extends ModulesModelsBase
{
    /**
     * @Primary
     * @Identity
     * @Column(type="integer", nullable=false)
     */
    public $id;

    /**
     * Station name peers call us by: ^[A-Za-z][A-Za-z0-9_-]{0,31}$
     *
     * @Column(type="string", nullable=true)
     */
    public $station_name;

    /**
     * Free text shown to admins
     *
     * @Column(type="string", nullable=true)
     */
    public $display_name;

    /**
     * Comma-separated patterns; empty = derived from local SIP extensions
     *
     * @Column(type="string", nullable=true)
     */
    public $own_patterns;

    /**
     * 1/0: publish device state to peers unless a peer overrides it
     *
     * @Column(type="integer", default="1", nullable=true)
     */
    public $blf_default;

    /**
     * 1/0: allow transfers to peers unless a peer overrides it
     *
     * @Column(type="integer", default="1", nullable=true)
     */
    public $transfers_default;

    /**
     * 1/0: overlapping-numbers fix unless a peer overrides it
     *
     * @Column(type="integer", default="0", nullable=true)
     */
    public $overlap_fix_default;

    /**
     * This station's number in the public network (digits, optional leading +): the caller
     * number of transit calls it carries for peers, and of fallback calls without a per-extension rewrite
     *
     * @Column(type="string", nullable=true)
     */
    public $public_number;

    /**
     * Digits cut from one of this station's extensions to make its public number
     *
     * @Column(type="integer", default="0", nullable=true)
     */
    public $public_trim;

    /**
     * Digits put in front of the extension (after the cut) to make its public number; empty with
     * public_trim 0 = every extension presents public_number
     *
     * @Column(type="string", nullable=true)
     */
    public $public_prepend;

    public function initialize(): void
    {
        $this->setSource('m_ModulePbxFederation');
        parent::initialize();
    }
}
