"""Catalog routes: items and tag metadata."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from tactful.api.auth import requires
from tactful.api.deps import Count, ItemId, get_engine
from tactful.api.schemas import Count as CountBody
from tactful.api.schemas import IdBatch, ItemBatch, ItemList, TagBatch
from tactful.domain.identifiers import ID_PATTERN
from tactful.domain.item import Item
from tactful.engine import Engine
from tactful.security.keys import Scope

router = APIRouter(tags=["catalog"])
EngineDep = Annotated[Engine, Depends(get_engine)]


@router.post(
    "/items",
    response_model=CountBody,
    summary="Upsert items in bulk",
    dependencies=[requires(Scope.ingest)],
)
def upsert_items(body: ItemBatch, engine: EngineDep) -> CountBody:
    return CountBody(count=engine.upsert_items(body.items))


@router.get(
    "/items/{item_id}", response_model=Item, summary="Get one item", dependencies=[requires(Scope.serve)]
)
def get_item(item_id: ItemId, engine: EngineDep) -> Item:
    return engine.get_item(item_id)


@router.delete(
    "/items/{item_id}",
    response_model=CountBody,
    summary="Delete one item",
    dependencies=[requires(Scope.ingest)],
)
def delete_item(item_id: ItemId, engine: EngineDep) -> CountBody:
    engine.get_item(item_id)
    return CountBody(count=engine.delete_items([item_id]))


@router.post(
    "/items/delete",
    response_model=CountBody,
    summary="Delete items in bulk",
    dependencies=[requires(Scope.ingest)],
)
def delete_items(body: IdBatch, engine: EngineDep) -> CountBody:
    return CountBody(count=engine.delete_items(body.ids))


@router.post(
    "/tags",
    response_model=CountBody,
    summary="Declare tag metadata (labels, sensitivity)",
    dependencies=[requires(Scope.ingest)],
)
def declare_tags(body: TagBatch, engine: EngineDep) -> CountBody:
    return CountBody(count=engine.declare_tags(body.tags))


@router.get(
    "/items/{item_id}/similar",
    response_model=ItemList,
    summary="Items similar to one item",
    dependencies=[requires(Scope.serve)],
)
def similar(
    item_id: ItemId,
    engine: EngineDep,
    n: Count = None,
    user_id: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
) -> ItemList:
    return ItemList(items=engine.similar(item_id, n, user_id))


@router.get(
    "/popular",
    response_model=ItemList,
    summary="Popular or trending items",
    dependencies=[requires(Scope.serve)],
)
def popular(
    engine: EngineDep,
    n: Count = None,
    kind: Annotated[str, Query(pattern="^(popular|trending)$")] = "popular",
) -> ItemList:
    return ItemList(items=engine.popular(n, kind))
