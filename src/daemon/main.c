/*
 * main.c: command line, then one of: run the daemon, check the configuration,
 * preflight the environment (`check`), load one object (`load`), or ask a running
 * daemon's /healthz (`health`, for container health checks: 0 healthy, 1 not).
 *
 * Exit codes (documented in ingestd(8)):
 *   0  success
 *   1  configuration invalid
 *   2  usage error
 *   3  runtime failure (a check failed, a load failed, the loop died)
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/config.h"
#include "daemon/daemon.h"
#include "daemon/health.h"
#include "input/jsonmem.h"
#include "base/log.h"
#include "aws/secret_source.h"
#include "sinks/sink.h"
#ifdef WITH_LUA
#include "transform/transform.h"
#endif
#include "base/util.h"

#define EXIT_CONFIG 1
#define EXIT_USAGE  2

static void usage(FILE *out)
{
    fprintf(
        out,
        "Usage: ingestd [-c FILE] [--exit-when-idle]    run the daemon in the foreground\n"
        "       ingestd --check-config [-c FILE]          validate the configuration\n"
        "       ingestd check [-c FILE]                   preflight: credentials, queue, sinks\n"
        "       ingestd load [-c FILE] s3://BUCKET/KEY [--route NAME]\n"
        "                                                 load one object now and exit\n"
        "       ingestd health [-c FILE]                  exit 0 when /healthz answers 200\n"
        "       ingestd --version | --help\n"
        "\n"
        "  -c, --config FILE    configuration file (default %s)\n"
        "  -t, --check-config   parse and validate the configuration, then exit\n"
        "  -r, --route NAME     with load: use this route instead of matching the key\n"
        "      --exit-when-idle stop once a long poll returns nothing and no load runs\n"
        "  -V, --version        print the version\n"
        "  -h, --help           print this help\n"
        "\n"
        "Exit status: 0 success, 1 invalid configuration, 2 usage error, 3 runtime failure.\n",
        CONFIG_DEFAULT_PATH);
}

/* Loads the configuration or prints every error; used by every mode. */
static struct config *load_config_or_report(const char *path)
{
    struct strlist errors = {0};
    struct config *cfg = config_load(path, &errors);

    for (size_t i = 0; i < errors.n; i++)
        log_err("%s", errors.v[i]);
    if (!cfg)
        log_err("%s: configuration is invalid (%zu error%s)", path, errors.n,
                errors.n == 1 ? "" : "s");
    strlist_free(&errors);
    return cfg;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"check-config", no_argument, NULL, 't'},
        {"route", required_argument, NULL, 'r'},
        {"exit-when-idle", no_argument, NULL, 'x'},
        {"version", no_argument, NULL, 'V'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct daemon_opts dopts = {.config_path = CONFIG_DEFAULT_PATH};
    const char *route = NULL;
    bool check_config = false;
    const char *command = NULL;
    struct config *cfg;
    int c, rc;

    log_init();
    jsonmem_init(); /* jansson's allocator, before any thread uses jansson */
    sink_set_secret_resolver(secret_source_resolve);
    config_set_sink_checker(sink_check_conf); /* each sink type's rules, at every load */
#ifdef WITH_LUA
    config_set_transform_checker(transform_check_conf); /* scripts compile, at every load */
#endif
    while ((c = getopt_long(argc, argv, "c:tr:Vh", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            dopts.config_path = optarg;
            break;
        case 't':
            check_config = true;
            break;
        case 'r':
            route = optarg;
            break;
        case 'x':
            dopts.exit_when_idle = true;
            break;
        case 'V':
            printf("ingestd %s\n", PACKAGE_VERSION);
            return 0;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return EXIT_USAGE;
        }
    }
    if (optind < argc)
        command = argv[optind++];
    if (command && strcmp(command, "load") != 0 && strcmp(command, "check") != 0 &&
        strcmp(command, "health") != 0) {
        fprintf(stderr, "ingestd: unknown command '%s'\n", command);
        usage(stderr);
        return EXIT_USAGE;
    }
    if ((command && strcmp(command, "load") == 0) ? optind != argc - 1 : optind != argc) {
        fprintf(stderr, "ingestd: unexpected arguments\n");
        usage(stderr);
        return EXIT_USAGE;
    }
    if (route && !(command && strcmp(command, "load") == 0)) {
        fprintf(stderr, "ingestd: --route goes with load\n");
        return EXIT_USAGE;
    }

    cfg = load_config_or_report(dopts.config_path);
    if (!cfg)
        return EXIT_CONFIG;
    log_set_level(cfg->ingestd.log_level);
    log_set_format((enum log_format)cfg->ingestd.log_format);
    if (check_config) {
        printf("%s: configuration is valid (%zu sink%s, %zu route%s)\n", dopts.config_path,
               cfg->nsinks, cfg->nsinks == 1 ? "" : "s", cfg->nroutes,
               cfg->nroutes == 1 ? "" : "s");
        config_unref(cfg);
        return 0;
    }
    if (command && strcmp(command, "health") == 0)
        rc = health_run(cfg);
    else if (command && strcmp(command, "check") == 0)
        rc = daemon_preflight(cfg);
    else if (command)
        rc = daemon_load_one(cfg, argv[optind], route);
    else
        rc = daemon_run(&dopts, cfg);
    config_unref(cfg);
    return rc;
}
