"""Catalog routes: items and tag metadata."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from tactful.api.auth import requires
from tactful.api.deps import Count, EngineDep, ItemId, LanesDep
from tactful.api.schemas import Count as CountBody
from tactful.api.schemas import IdBatch, ItemBatch, ItemList, TagBatch
from tactful.domain.identifiers import ID_PATTERN
from tactful.domain.item import Item
from tactful.security.keys import Scope

router = APIRouter(tags=["catalog"])


@router.post(
    "/items",
    response_model=CountBody,
    summary="Upsert items in bulk",
    dependencies=[requires(Scope.ingest)],
)
async def upsert_items(body: ItemBatch, engine: EngineDep, lanes: LanesDep) -> CountBody:
    return CountBody(count=await lanes.write.run(engine.upsert_items, body.items))


@router.get(
    "/items/{item_id}", response_model=Item, summary="Get one item", dependencies=[requires(Scope.serve)]
)
async def get_item(item_id: ItemId, engine: EngineDep, lanes: LanesDep) -> Item:
    return await lanes.read.run(engine.get_item, item_id)


@router.delete(
    "/items/{item_id}",
    response_model=CountBody,
    summary="Delete one item",
    dependencies=[requires(Scope.ingest)],
)
async def delete_item(item_id: ItemId, engine: EngineDep, lanes: LanesDep) -> CountBody:
    def delete() -> int:
        engine.get_item(item_id)  # 404 for an unknown item
        return engine.delete_items([item_id])

    return CountBody(count=await lanes.write.run(delete))


@router.post(
    "/items/delete",
    response_model=CountBody,
    summary="Delete items in bulk",
    dependencies=[requires(Scope.ingest)],
)
async def delete_items(body: IdBatch, engine: EngineDep, lanes: LanesDep) -> CountBody:
    return CountBody(count=await lanes.write.run(engine.delete_items, body.ids))


@router.post(
    "/tags",
    response_model=CountBody,
    summary="Declare tag metadata (labels, sensitivity)",
    dependencies=[requires(Scope.ingest)],
)
async def declare_tags(body: TagBatch, engine: EngineDep, lanes: LanesDep) -> CountBody:
    return CountBody(count=await lanes.write.run(engine.declare_tags, body.tags))


@router.get(
    "/items/{item_id}/similar",
    response_model=ItemList,
    summary="Items similar to one item",
    dependencies=[requires(Scope.serve)],
)
async def similar_items(
    item_id: ItemId,
    engine: EngineDep,
    lanes: LanesDep,
    n: Count = None,
    user_id: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
) -> ItemList:
    return ItemList(items=await lanes.read.run(engine.similar, item_id, n, user_id))


@router.get(
    "/popular",
    response_model=ItemList,
    summary="Popular or trending items",
    dependencies=[requires(Scope.serve)],
)
async def popular_items(
    engine: EngineDep,
    lanes: LanesDep,
    n: Count = None,
    kind: Annotated[str, Query(pattern="^(popular|trending)$")] = "popular",
) -> ItemList:
    return ItemList(items=await lanes.read.run(engine.popular, n, kind))
