"""The demo shop's catalogue structure, as data: departments, categories, attributes.

Kept as compact text so a person can read and extend the tree at a glance; ``data.py``
turns it into records. Names use British spelling, like many real shops, and some
contain ``&`` because WordPress returns that as ``&amp;`` and clients must cope.

Tree format: a department per unindented line, a category per line indented by two
spaces, its subcategories after the colon and on lines indented by four::

    Department [attribute slugs]
      Category [attribute slugs]: Subcategory [attribute slugs], Subcategory, ...
        Subcategory, ...

Attributes listed on a node apply to it and to everything below it.
"""

from __future__ import annotations

TREE = """
Electronics [brand color]
  Phones & Tablets [storage screen-size connectivity]:
    Smartphones [memory], Feature Phones, Tablets [memory], E-readers, Rugged Phones,
    Refurbished Phones
  Computers [storage memory screen-size]:
    Laptops, Desktops, All-in-Ones, Mini PCs, Workstations, Chromebooks
  Computer Accessories [connectivity]:
    Keyboards, Mice, Monitors [screen-size], Webcams, Docking Stations, USB Hubs,
    External Drives [storage]
  TV & Home Cinema [screen-size energy-class]:
    Televisions, Projectors, Soundbars, AV Receivers, Streaming Devices, TV Mounts
  Audio [connectivity]:
    Headphones, Earbuds, Bluetooth Speakers, Hi-Fi Systems, Turntables, Microphones
  Cameras [storage]: Mirrorless Cameras, DSLR Cameras, Action Cameras, Lenses, Tripods, Camera Bags
  Phone Accessories [compatibility]:
    Phone Cases, Screen Protectors, Chargers [power], Cables, Power Banks, Car Mounts
Clothing [brand color material size]
  Women's Clothing [fit]:
    Dresses, Tops & Blouses [sleeve-length], Jeans, Skirts, Coats & Jackets, Knitwear, Activewear
  Men's Clothing [fit]:
    T-Shirts [sleeve-length], Shirts [sleeve-length], Jeans, Trousers, Coats & Jackets, Suits,
    Activewear
  Kids' Clothing [age-range]:
    Baby Clothing, Girls' Clothing, Boys' Clothing, School Uniforms, Kids' Outerwear, Sleepwear
  Underwear & Socks: Socks, Briefs, Boxers, Bras, Thermals, Tights
  Accessories: Hats & Caps, Scarves, Gloves, Belts, Ties, Sunglasses
  Swimwear [pattern]: Bikinis, Swimsuits, Swim Shorts, Rash Guards, Cover-ups, Kids' Swimwear
Shoes & Bags [brand color material]
  Women's Shoes [shoe-size]: Sneakers, Boots, Heels, Flats, Sandals, Slippers
  Men's Shoes [shoe-size]: Sneakers, Boots, Dress Shoes, Loafers, Sandals, Slippers
  Kids' Shoes [shoe-size age-range]: Sneakers, School Shoes, Boots, Sandals, Baby Shoes
  Sports Shoes [shoe-size]:
    Running Shoes, Trail Shoes, Football Boots, Tennis Shoes, Hiking Boots, Cycling Shoes
  Bags: Handbags, Backpacks, Tote Bags, Wallets, Laptop Bags [screen-size], Suitcases [capacity]
Home & Kitchen [brand color material]
  Cookware: Pots & Pans, Frying Pans, Baking Trays, Casserole Dishes, Pressure Cookers, Woks
  Kitchen Appliances [power energy-class]:
    Coffee Machines, Kettles [capacity], Toasters, Blenders, Stand Mixers, Microwaves,
    Air Fryers [capacity]
  Tableware: Dinner Sets, Glassware, Cutlery, Mugs, Serving Bowls, Table Linen
  Bedding [bed-size]: Duvets, Pillows, Bed Sheets, Duvet Covers, Mattress Toppers, Blankets
  Bath: Towels, Bath Mats, Shower Curtains, Bathroom Storage, Bathrobes [size]
  Home Decor [pattern]:
    Cushions, Rugs, Curtains, Candles [scent], Picture Frames, Vases, Wall Clocks
  Storage & Organisation:
    Storage Boxes, Shelving Units, Laundry Baskets, Hangers, Food Containers [capacity]
Furniture [brand color material]
  Living Room: Sofas, Armchairs, Coffee Tables, TV Stands, Bookcases, Side Tables
  Bedroom [bed-size]:
    Beds, Mattresses, Wardrobes, Chests of Drawers, Bedside Tables, Dressing Tables
  Dining Room: Dining Tables, Dining Chairs, Bar Stools, Sideboards, Benches
  Home Office: Desks, Office Chairs, Filing Cabinets, Standing Desks, Monitor Arms
  Outdoor Furniture: Garden Tables, Garden Chairs, Sun Loungers, Parasols, Hammocks, Outdoor Sofas
Garden & DIY [brand]
  Power Tools [power]: Drills, Saws, Sanders, Angle Grinders, Impact Drivers, Multi-Tools
  Hand Tools [material]: Hammers, Screwdrivers, Spanners, Pliers, Tool Sets, Measuring Tapes
  Garden Tools:
    Lawn Mowers [power], Hedge Trimmers [power], Spades & Forks, Pruners, Hoses, Wheelbarrows
  Plants & Seeds:
    Indoor Plants, Outdoor Plants, Flower Seeds, Vegetable Seeds, Bulbs, Compost [weight]
  Lighting [color energy-class]:
    Ceiling Lights, Lamps, Outdoor Lights, LED Bulbs [power], Smart Lighting, Fairy Lights
  Painting & Decorating [color]:
    Interior Paint [capacity], Exterior Paint [capacity], Brushes & Rollers, Wallpaper [pattern],
    Primers
Sports & Outdoors [brand]
  Fitness [weight]: Dumbbells, Kettlebells, Yoga Mats, Resistance Bands, Treadmills, Exercise Bikes
  Cycling [size]: Road Bikes, Mountain Bikes, E-Bikes, Kids' Bikes, Bike Helmets, Bike Lights
  Camping & Hiking:
    Tents, Sleeping Bags, Backpacks [capacity], Camping Stoves, Headlamps, Trekking Poles
  Team Sports: Football, Basketball, Volleyball, Hockey, Rugby, Cricket
  Racket Sports:
    Tennis Rackets, Badminton Rackets, Squash Rackets, Table Tennis, Padel Rackets,
    Shuttlecocks & Balls
  Water Sports:
    Paddle Boards, Kayaks, Wetsuits [size], Snorkelling, Swim Goggles, Life Jackets [size]
  Sportswear [size color material]: Running Tops, Leggings, Shorts, Sports Bras, Tracksuits, Jackets
Beauty & Health [brand]
  Skincare [skin-type]: Cleansers, Moisturisers, Serums, Sun Cream, Face Masks, Eye Creams
  Hair Care:
    Shampoo [capacity], Conditioner [capacity], Hair Dryers [power], Straighteners, Hair Styling,
    Hair Colour [color]
  Makeup [color]: Foundation, Lipstick, Mascara, Eyeshadow, Nail Polish, Makeup Brushes
  Fragrance [scent capacity]:
    Women's Perfume, Men's Aftershave, Eau de Toilette, Body Mists, Gift Sets
  Personal Care:
    Electric Toothbrushes, Shavers, Deodorant [scent], Body Wash [scent capacity], Hand Cream
  Health [diet]:
    Vitamins, Supplements, First Aid, Thermometers, Blood Pressure Monitors,
    Protein Powder [flavour weight]
Toys & Games [brand age-range]
  Building Toys: Building Blocks, Construction Sets, Marble Runs, Magnetic Tiles, Model Kits
  Dolls & Figures:
    Fashion Dolls, Action Figures, Baby Dolls, Dollhouses, Playsets, Soft Toys [material]
  Games & Puzzles:
    Board Games [language], Card Games [language], Jigsaw Puzzles, Brain Teasers, Party Games
  Outdoor Toys: Trampolines, Swings & Slides, Scooters, Ride-ons, Water Toys, Sandpits
  Educational Toys:
    Science Kits, Coding Toys, Musical Toys, Art & Craft Kits, Globes, Learning Tablets
  Video Games [platform]:
    Consoles, Console Games, PC Games, Controllers, Gaming Headsets [connectivity], VR Headsets
Books & Media [language]
  Fiction [format]:
    Crime & Thrillers, Science Fiction, Fantasy, Romance, Historical Fiction, Literary Fiction
  Non-Fiction [format]: Biographies, History, Science & Nature, Cookbooks, Travel Guides, Self-Help
  Children's Books [format age-range]:
    Picture Books, Early Readers, Young Adult, Activity Books, Comics
  Music [edition]: Vinyl, CDs, Sheet Music, Box Sets
  Film & TV [edition]: Blu-ray, DVD, 4K UHD, Box Sets
  Stationery [color]: Notebooks, Pens, Pencils, Diaries & Planners, Art Supplies, Greeting Cards
Food & Drink [brand diet]
  Pantry [weight]: Pasta & Rice, Cereals, Tinned Food, Sauces & Condiments, Baking, Spices
  Snacks [flavour weight]: Crisps, Chocolate, Biscuits, Nuts & Seeds, Sweets, Cereal Bars
  Beverages [capacity]: Coffee [weight], Tea, Juice, Soft Drinks, Water, Energy Drinks [flavour]
  Wine & Spirits [capacity]: Red Wine, White Wine, Sparkling Wine, Beer, Whisky, Gin
  Fresh Food [weight]: Fruit, Vegetables, Bakery, Dairy, Meat, Fish
Pets [brand]
  Dogs:
    Dog Food [flavour weight], Dog Treats [flavour], Dog Beds [size], Collars & Leads [size color],
    Dog Toys, Dog Grooming
  Cats:
    Cat Food [flavour weight], Cat Litter [weight], Scratching Posts, Cat Beds, Cat Toys,
    Cat Carriers
  Small Animals: Hutches, Bedding & Litter, Small Animal Food [weight], Cages, Hay
  Fish & Aquatics [capacity]:
    Aquariums, Fish Food, Filters & Pumps, Aquarium Decor, Water Treatments
  Birds: Bird Cages, Bird Food [weight], Bird Toys, Wild Bird Feeders, Nest Boxes
Baby [brand age-range]
  Nursery: Cots, Changing Tables, Baby Monitors [connectivity], Nursery Furniture, Night Lights
  Feeding: Bottles [capacity], Breast Pumps, High Chairs, Baby Food [flavour], Bibs, Sterilisers
  Travel: Pushchairs, Car Seats, Baby Carriers, Travel Cots, Changing Bags
  Bath & Changing: Nappies [size], Baby Wipes, Baby Baths, Potties, Baby Skincare
"""

#: Global product attributes: (slug without WooCommerce's ``pa_`` prefix, name, terms in
#: menu order). Brands are Microsoft's fictional demo companies, free of real trademarks.
ATTRIBUTES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("brand", "Brand", ("Acme", "Adventure Works", "Contoso", "Fabrikam", "Globex", "Initech",
                        "Litware", "Northwind", "Proseware", "Tailspin", "Wingtip", "Woodgrove")),
    ("color", "Color", ("Black", "White", "Grey", "Silver", "Red", "Blue", "Navy", "Green",
                        "Yellow", "Orange", "Pink", "Purple", "Brown", "Beige", "Gold")),
    ("size", "Size", ("XS", "S", "M", "L", "XL", "XXL", "3XL")),
    ("shoe-size", "Shoe Size", tuple(f"EU {n}" for n in range(35, 48))),
    ("material", "Material", ("Cotton", "Linen", "Wool", "Polyester", "Leather", "Denim", "Silk",
                              "Stainless Steel", "Aluminium", "Oak", "Pine", "Glass", "Ceramic",
                              "Plastic", "Bamboo", "Rubber")),
    ("screen-size", "Screen Size", ('5.8"', '6.1"', '6.7"', '8"', '10.9"', '13.3"', '14"',
                                    '15.6"', '17.3"', '24"', '27"', '32"', '43"', '55"', '65"',
                                    '75"')),
    ("storage", "Storage", ("32 GB", "64 GB", "128 GB", "256 GB", "512 GB", "1 TB", "2 TB", "4 TB")),
    ("memory", "Memory", ("4 GB", "8 GB", "16 GB", "32 GB", "64 GB")),
    ("connectivity", "Connectivity", ("Wi-Fi", "Bluetooth", "5G", "4G LTE", "USB-C", "Ethernet",
                                      "NFC")),
    ("compatibility", "Compatibility", ("iOS", "Android", "Windows", "macOS", "Universal")),
    ("power", "Power", ("20 W", "65 W", "500 W", "800 W", "1000 W", "1200 W", "1500 W", "2000 W")),
    ("energy-class", "Energy Class", ("A", "B", "C", "D", "E", "F", "G")),
    ("capacity", "Capacity", ("250 ml", "500 ml", "750 ml", "1 l", "1.5 l", "2 l", "5 l", "20 l",
                              "40 l", "60 l")),
    ("weight", "Weight", ("100 g", "250 g", "500 g", "1 kg", "2 kg", "5 kg", "10 kg", "20 kg")),
    ("age-range", "Age Range", ("0-12 months", "1-3 years", "3-5 years", "6-8 years",
                                "9-12 years", "12+ years", "Adult")),
    ("pattern", "Pattern", ("Solid", "Striped", "Checked", "Floral", "Polka Dot", "Geometric",
                            "Printed")),
    ("fit", "Fit", ("Slim", "Regular", "Relaxed", "Oversized")),
    ("sleeve-length", "Sleeve Length", ("Sleeveless", "Short Sleeve", "3/4 Sleeve",
                                        "Long Sleeve")),
    ("bed-size", "Bed Size", ("Single", "Small Double", "Double", "King", "Super King")),
    ("scent", "Scent", ("Unscented", "Lavender", "Citrus", "Vanilla", "Sandalwood", "Rose",
                        "Fresh Linen")),
    ("skin-type", "Skin Type", ("All Skin Types", "Dry", "Oily", "Combination", "Sensitive")),
    ("flavour", "Flavour", ("Original", "Chocolate", "Vanilla", "Strawberry", "Salted Caramel",
                            "Lemon", "Mint", "Chicken", "Beef", "Salmon")),
    ("diet", "Diet", ("Vegan", "Vegetarian", "Gluten-Free", "Organic", "Lactose-Free",
                      "Sugar-Free")),
    ("language", "Language", ("English", "German", "French", "Spanish", "Italian", "Dutch")),
    ("format", "Format", ("Hardcover", "Paperback", "E-book", "Audiobook")),
    ("edition", "Edition", ("Standard", "Deluxe", "Limited", "Collector's Edition")),
    ("platform", "Platform", ("PC", "Console", "Handheld", "Mobile", "VR")),
)
