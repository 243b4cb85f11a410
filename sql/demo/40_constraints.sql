-- pg_ops demo platform, part 6: keys and checks, added after the bulk load.
-- Only primary keys and constraint indexes: foreign keys get no index of their own (the "before"
-- state; deleting an order scans every order item until the rollout adds one).

alter table public.profiles add primary key (id),
  add constraint profiles_role_check check (role in ('admin', 'restaurant_owner', 'driver', 'customer')),
  add constraint profiles_id_fkey foreign key (id) references auth.users (id) on delete cascade;
alter table public.restaurants add primary key (id),
  add constraint restaurants_owner_id_fkey foreign key (owner_id) references public.profiles (id);
alter table public.products add primary key (id),
  add constraint products_price_check check (price >= 0),
  add constraint products_restaurant_id_fkey foreign key (restaurant_id) references public.restaurants (id);
alter table public.orders add primary key (id),
  add constraint orders_status_check check (status in ('pending', 'confirmed', 'preparing', 'ready',
                                                       'picked_up', 'delivered', 'cancelled')),
  add constraint orders_customer_id_fkey foreign key (customer_id) references public.profiles (id),
  add constraint orders_restaurant_id_fkey foreign key (restaurant_id) references public.restaurants (id),
  add constraint orders_driver_id_fkey foreign key (driver_id) references public.profiles (id);
alter table public.order_items add primary key (id),
  add constraint order_items_quantity_check check (quantity > 0),
  add constraint order_items_order_id_fkey foreign key (order_id) references public.orders (id) on delete cascade,
  add constraint order_items_product_id_fkey foreign key (product_id) references public.products (id);
