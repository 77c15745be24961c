/* The nats section judged against the rest of the configuration, and how
 * the log may show nats.url (mesh_cluster.c). */
#ifndef MH_MESH_CLUSTER_CONFIG_H
#define MH_MESH_CLUSTER_CONFIG_H
#include "core/config.h"

/* 0, or MH_START_BAD_CONFIG and *errmsg (mesh.key missing, two ways to log
 * in, a nats.url that is not nats://HOST:PORT[,...] or tls://..., tls://
 * without nats.tls.ca, a TLS file that cannot be read, ...). */
int mh_cluster_check_config(const mh_config *cfg, char **errmsg);
/* nats.url with "user:password@" or "token@" cut out; NULL when memory runs out. */
char *mh_cluster_url_shown(const char *url);

#endif
