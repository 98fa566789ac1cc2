-- shop.gold.dim_product
select
    row_number() over (order by product_id) as product_key,
    product_id,
    sku,
    name,
    category,
    {{ money('unit_price') }} as unit_price,
    active
from {{ source('silver', 'products') }}
