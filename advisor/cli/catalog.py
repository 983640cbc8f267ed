"""`advisor catalog`: the GPUs and offers advisor knows, and a check that keeps them honest."""

from __future__ import annotations

import sys

import click


@click.group()
def catalog():
    """List the GPUs and cloud offers advisor knows, with prices, sources and dates."""


@catalog.command("gpus")
@click.option("--catalog", "catalog_files", multiple=True, type=click.Path(dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table", show_default=True)
def catalog_gpus(catalog_files, fmt):
    """GPU specifications (dense tensor-core peaks)."""
    from advisor.cloud.catalog import load_catalog
    from advisor.render.catalog import gpus_output

    click.echo(gpus_output(load_catalog(tuple(catalog_files)), fmt).rstrip("\n"))


@catalog.command("offers")
@click.option("--provider", "providers", multiple=True, help="Only this provider (repeatable).")
@click.option("--gpu", default=None, help="Only offers with this GPU.")
@click.option("--catalog", "catalog_files", multiple=True, type=click.Path(dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table", show_default=True)
def catalog_offers(providers, gpu, catalog_files, fmt):
    """Cloud offers with prices per hour, billing rule, runtime limit, date and source."""
    import datetime as dt

    from advisor.cloud.catalog import STALE_PRICE_DAYS, check_providers, filter_offers, load_catalog, stale_offers
    from advisor.render.catalog import offers_output

    cat = load_catalog(tuple(catalog_files))
    gpu_id = cat.gpu(gpu).id if gpu else None
    offers = filter_offers(cat.offers, check_providers(providers), gpu_id)
    click.echo(offers_output(cat, offers, fmt).rstrip("\n"))
    old = stale_offers(offers, dt.date.today())
    if old:
        click.echo(f"Warning: {len(old)} of these prices are older than {STALE_PRICE_DAYS} days "
                   "(`advisor catalog check` lists them).", err=True)


@catalog.command("check")
@click.option("--max-age-days", type=click.IntRange(min=1), default=None,
              help="Fail on prices older than this [default: 365].")
@click.option("--catalog", "catalog_files", multiple=True, type=click.Path(dir_okay=False),
              help="Check these files' entries too (with the built-in ones they override).")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def catalog_check(max_age_days, catalog_files, fmt):
    """Entries that are old, unsourced or incomplete; exit 1 when any needs work."""
    import datetime as dt

    from advisor.cloud.catalog import CHECK_MAX_AGE_DAYS, check_catalog, load_catalog
    from advisor.render.catalog import check_output

    cat = load_catalog(tuple(catalog_files))
    days = max_age_days or CHECK_MAX_AGE_DAYS
    findings = check_catalog(cat, dt.date.today(), days)
    click.echo(check_output(cat, findings, days, fmt).rstrip("\n"))
    if any(f.fails for f in findings):
        sys.exit(1)
