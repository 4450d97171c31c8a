<?php
/**
 * Plugin Name: stockwire: deliver webhooks synchronously
 * Description: Makes WooCommerce deliver webhooks at the end of the request that caused them instead of waiting for Action Scheduler / WP-Cron (7-60 s, or never without site traffic). Optional; the stockwire agent polls either way.
 */
add_filter( 'woocommerce_webhook_deliver_async', '__return_false' );
