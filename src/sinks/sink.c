/*
 * sink.c: the sink registry, the one place that lists the sinks.
 *
 * It maps a sink type to the ops table built into this binary; a sink added to the
 * build adds its line to sink_table[] (and its extern). Nothing here talks to a
 * database; nothing calls back into it from a sink.
 */
#include "sinks/sink.h"

#include <stddef.h>

#include "base/util.h"

#ifdef WITH_POSTGRES
extern const struct sink_ops sink_pg_ops;
#endif
#ifdef WITH_DYNAMODB
extern const struct sink_ops sink_dynamodb_ops;
extern const struct sink_ops sink_sqs_ops; /* its ledger is in DynamoDB */
#endif
#ifdef WITH_MYSQL
extern const struct sink_ops sink_mysql_ops;
#endif

static const struct sink_ops *const sink_table[] = {
#ifdef WITH_POSTGRES
    &sink_pg_ops,
#endif
#ifdef WITH_DYNAMODB
    &sink_dynamodb_ops,
    &sink_sqs_ops,
#endif
#ifdef WITH_MYSQL
    &sink_mysql_ops,
#endif
    NULL, /* keeps the array non-empty when no sink is built in */
};

const struct sink_ops *sink_ops_for(enum sink_type type)
{
    for (size_t i = 0; i < ARRAY_SIZE(sink_table); i++)
        if (sink_table[i] && sink_table[i]->type == type)
            return sink_table[i];
    return NULL;
}

int sink_check_conf(const struct sink_conf *sc, const char *key, struct buf *why)
{
    const struct sink_ops *ops = sink_ops_for(sc->type);

    return ops && ops->check_conf ? ops->check_conf(sc, key, why) : 0;
}
