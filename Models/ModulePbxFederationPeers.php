<?php
/*
 * ModulePbxFederation: federation of MikoPBX stations.
 * Licensed under the GNU General Public License v3 or later.
 */

namespace Modules\ModulePbxFederation\Models;

use MikoPBX\Modules\Models\ModulesModelsBase;

/**
 * Peer stations, each declared under its own station name. docs/design.md "module.db" is the
 * contract; python_worker/models.py mirrors these annotations column by column.
 */
class ModulePbxFederationPeers extends ModulesModelsBase
{
    /**
     * @Primary
     * @Identity
     * @Column(type="integer", nullable=false)
     */
    public $id;

    /**
     * The peer's own station name (unique, case-insensitive)
     *
     * @Column(type="string", nullable=true)
     */
    public $name;

    /**
     * IPv4/IPv6 literal or DNS name
     *
     * @Column(type="string", nullable=true)
     */
    public $host;

    /**
     * SIP port
     *
     * @Column(type="integer", default="5060", nullable=true)
     */
    public $port;

    /**
     * udp, tcp or tls
     *
     * @Column(type="string", default="udp", nullable=true)
     */
    public $transport;

    /**
     * Comma-separated patterns, e.g. 3XX,4XXX,5[0-4]X
     *
     * @Column(type="string", nullable=true)
     */
    public $patterns;

    /**
     * Shared trunk secret
     *
     * @Column(type="string", nullable=true)
     */
    public $secret;

    /**
     * 1/0
     *
     * @Column(type="integer", default="1", nullable=true)
     */
    public $enabled;

    /**
     * 1/0, NULL = station default
     *
     * @Column(type="integer", nullable=true)
     */
    public $blf;

    /**
     * 1/0, NULL = station default
     *
     * @Column(type="integer", nullable=true)
     */
    public $transfers;

    /**
     * 1/0, NULL = station default
     *
     * @Column(type="integer", nullable=true)
     */
    public $overlap_fix;

    /**
     * Free text
     *
     * @Column(type="string", nullable=true)
     */
    public $note;

    /**
     * 1 = added by pairing (directory synced over ZeroMQ), 0 = declared by hand
     *
     * @Column(type="integer", default="0", nullable=true)
     */
    public $paired;

    /**
     * The peer's directory-sync TCP port (paired peers), default 7787
     *
     * @Column(type="integer", nullable=true)
     */
    public $sync_port;

    /**
     * The peer's CurveZMQ public key (Z85, 40 characters), pinned at pairing
     *
     * @Column(type="string", nullable=true)
     */
    public $public_key;

    /**
     * PSTN fallback: uniqid of this station's provider that carries calls to the peer's
     * numbers when its station answers nothing; empty = no fallback
     *
     * @Column(type="string", nullable=true)
     */
    public $fallback_provider;

    /**
     * PSTN fallback: digits cut from the start of the dialled number (like a route's trimfrombegin)
     *
     * @Column(type="integer", default="0", nullable=true)
     */
    public $fallback_trim;

    /**
     * PSTN fallback: digits put in front (like a route's prepend), e.g. 78125550
     *
     * @Column(type="string", nullable=true)
     */
    public $fallback_prepend;

    /**
     * Transit: numbers the peer may call out through this station, comma-separated whole-number
     * patterns (at least 7 digits), e.g. 8495XXXXXXX; empty = no transit
     *
     * @Column(type="string", nullable=true)
     */
    public $transit_patterns;

    /**
     * Transit: uniqid of this station's provider those calls leave through
     *
     * @Column(type="string", nullable=true)
     */
    public $transit_provider;

    /**
     * Transit: at most this many of the peer's transit calls at a time; NULL = no cap
     *
     * @Column(type="integer", nullable=true)
     */
    public $transit_limit;

    /**
     * Transit: the caller number presented to the public network; empty = the station's public number
     *
     * @Column(type="string", nullable=true)
     */
    public $transit_callerid;

    /**
     * Numbers this station calls out through the peer (the peer's grant; kept equal to it by
     * directory sync for a paired peer)
     *
     * @Column(type="string", nullable=true)
     */
    public $via_patterns;

    public function initialize(): void
    {
        $this->setSource('m_ModulePbxFederationPeers');
        parent::initialize();
    }
}
